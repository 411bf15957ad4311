"""A Ray worker node of its own process, as ``ray.cluster_utils.Cluster.add_node`` starts
one, on the loopback address: ``python tests/ray_node.py GCS_ADDRESS``. It runs until
SIGTERM, then stops its node's processes. The sentinel test starts it inside a mount
namespace of its own, so the node sees another filesystem than the driver."""
import os
import signal
import sys
import threading

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1, like the test cluster

import ray._private.node  # noqa: E402
import ray._private.parameter  # noqa: E402


def main(gcs_address: str) -> None:
    params = ray._private.parameter.RayParams(gcs_address=gcs_address, num_cpus=1, num_gpus=0,
                                              object_store_memory=80 * 2**20, min_worker_port=0, max_worker_port=0,
                                              include_log_monitor=False, node_manager_port=0)
    params.dashboard_agent_listen_port = None
    node = ray._private.node.Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)


if __name__ == "__main__":
    main(sys.argv[1])
