"""Per-component wall time of the latest run in ML Metadata (a SQLite file or a database URL) and peak memory
of a process tree.

A component's time runs from the creation of its execution in ML Metadata (registered just before its driver and
executor run) to its last update (its outputs published), which works for `kfx run` and the TFX template alike.
"""

import subprocess
import threading
import time

import psutil

from monitoring import connection
from monitoring import store as store_lib


def component_seconds(metadata: str, pipeline_name: str) -> dict[str, float]:
    """{node id: seconds} for each execution of the latest run of `pipeline_name`, in the order they started."""
    store = connection.open_store(metadata)
    run = store_lib.pipeline_runs(store, pipeline_name)[-1]
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch)
    return {
        store_lib.node_id(store, e, pipeline_name): round(
            (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000, 1
        )
        for e in executions
    }


class PeakMemory:
    """Samples the summed RSS of a process and all its descendants (Beam's worker processes too) every 0.2 s."""

    def __init__(self, process: subprocess.Popen):
        self.peak_bytes = 0
        self._root = psutil.Process(process.pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stops sampling; the peak in MiB."""
        self._done.set()
        self._thread.join()
        return round(self.peak_bytes / 2**20)

    def _sample(self) -> None:
        while not self._done.is_set():
            try:
                tree = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.2)
