"""How many CPUs a run may use, and the Beam DirectRunner arguments that follow from it.

The count is the container's CPU limit (cgroup v2 `cpu.max`, or v1's CFS quota), capped by the CPUs the process may
be scheduled on, not the node's CPU count that `multiprocessing.cpu_count()` (and so `--direct_num_workers=0`)
reports inside a pod.
"""

import math
import os

CGROUP_ROOT = "/sys/fs/cgroup"
# Beam's multi-processing mode starts worker processes that import TensorFlow and exchange every element over gRPC.
# Measured on 2 cores: 2 workers were slower than one in-memory worker for ExampleGen on 150,000 rows (34.5 s
# against 32.5 s) and for the Evaluator on 30,000 and 120,000 eval rows (40.1 against 33.9 s, 123.7 against
# 117.0 s), so worker processes are used only from this many CPUs on (not measured here: no such machine).
MULTI_PROCESSING_MIN_CPUS = 4


def usable(cgroup_root: str = CGROUP_ROOT) -> int:
    """CPUs this process may use: its scheduling affinity, capped by the container's CPU limit (at least 1)."""
    count = len(os.sched_getaffinity(0))
    limit = cpu_limit(cgroup_root)
    return max(1, min(count, math.floor(limit))) if limit is not None else count


def cpu_limit(cgroup_root: str = CGROUP_ROOT) -> float | None:
    """The container's CPU limit in CPUs (quota / period), or None when it has none."""
    v2 = _read(os.path.join(cgroup_root, "cpu.max"))  # "max 100000" or "150000 100000"
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period)
    quota = _read(os.path.join(cgroup_root, "cpu", "cpu.cfs_quota_us"))  # -1: no limit
    period = _read(os.path.join(cgroup_root, "cpu", "cpu.cfs_period_us"))
    if quota is None or period is None or int(quota) <= 0:
        return None
    return int(quota) / int(period)


def default_workers(cpus: int) -> int:
    """One Beam worker per CPU from MULTI_PROCESSING_MIN_CPUS on, else a single one."""
    return cpus if cpus >= MULTI_PROCESSING_MIN_CPUS else 1


def direct_runner_args(workers: int) -> list[str]:
    """DirectRunner arguments: one worker runs in memory, more run as that many worker processes.

    One in-memory worker is Beam's default, so it takes no argument at all: with any Beam argument, every TFX Beam
    executor first repackages the installed TFX as an sdist for remote workers (tfx.utils.dependency_utils; measured
    2 s and 49 MB left in the temporary directory per component, per run), which a local DirectRunner never reads.
    """
    if workers == 1:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
