import copy
import os

import pytest
import torch
from hypothesis import settings

from genbench.config import load_preset

torch.set_flush_denormal(True)

# Property tests draw the same examples on every run ("repeatable", the default), so a
# test run, CI's included, passes or fails on the code alone and never on a new random
# draw. HYPOTHESIS_PROFILE=explore draws fresh random examples on each run, to hunt for
# new failures (hypothesis prints the failing example, to pin with @example).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def tiny_study() -> dict:
    """The toy2d preset cut down to seconds: two datasets, two seeds, three epochs."""
    raw = copy.deepcopy(load_preset("toy2d"))
    raw.update(name="tiny", seeds=2, n_samples=400, train_overrides={},
               datasets={"gaussian-mixture": {}, "moons": {}},
               data={"protocol": "genbench", "n_train": 300, "n_holdout": 100, "n_test": 400, "data_seed": 3})
    for entry in raw["models"].values():
        entry["train"]["epochs"] = 3
    return raw


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Evaluators trained by tests go to a temporary cache, not the user's."""
    os.environ["GENBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster of two nodes (1 CPU and an 80 MB object store each, Ray's
    minimum being 75 MB) for the whole test session, on the loopback address only. Tests
    that add nodes remove them again."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray then binds 127.0.0.1, not the LAN address
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'genbench[ray]'")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20,
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    cluster.wait_for_nodes()
    yield cluster
    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()
