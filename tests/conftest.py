import copy

import pytest
import torch

from genbench.config import load_preset

torch.set_flush_denormal(True)


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
    import os

    os.environ["GENBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
