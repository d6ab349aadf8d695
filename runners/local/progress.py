"""Console progress for a local run: one line per component, while TFX/Beam/TensorFlow output goes to a log file."""

import logging
import time
from typing import TextIO

# Messages LocalDagRunner and the launcher log around each node (tfx/orchestration/local/local_dag_runner.py,
# tfx/orchestration/portable/launcher.py).
_NODE_RUNNING = "Component %s is running."
_NODE_FINISHED = "Component %s is finished."
_CACHE_HIT = "A cached execution %d is used."


class ComponentProgress(logging.Handler):
    """Turns the runner's log records into `[ 3/11] Transform ... done 24.8s` lines on the console."""

    def __init__(self, console: TextIO, node_ids: list[str]):
        super().__init__(level=logging.INFO)
        self._console = console
        self._node_ids = node_ids
        self._started: dict[str, float] = {}
        self._cached: set[str] = set()
        self.current: str | None = None
        self.finished: list[str] = []
        self.interrupted = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.interrupted and record.msg == _NODE_RUNNING:
            # Libraries may swallow the KeyboardInterrupt of a Ctrl-C (TFMA's Beam pipeline does): the run still
            # stops before the next component. An error raised here reaches LocalDagRunner, which logged the record.
            raise KeyboardInterrupt
        if self.interrupted:
            return
        if record.msg == _NODE_RUNNING:
            self._start(record.args[0])
        elif record.msg == _NODE_FINISHED:
            self._finish(record.args[0])
        elif record.msg == _CACHE_HIT and self.current:
            self._cached.add(self.current)

    def _start(self, node_id: str) -> None:
        self.current = node_id
        self._started[node_id] = time.monotonic()
        position = self._node_ids.index(node_id) + 1 if node_id in self._node_ids else 0
        width = len(str(len(self._node_ids)))
        self._console.write(f"  [{position:>{width}}/{len(self._node_ids)}] {node_id:<18} ...")
        self._console.flush()

    def _finish(self, node_id: str) -> None:
        status = "cached" if node_id in self._cached else "done"
        self._console.write(f" {status} {time.monotonic() - self._started[node_id]:5.1f}s\n")
        self._console.flush()
        self.finished.append(node_id)
        self.current = None

    def fail(self) -> None:
        """Ends the line of the component that raised."""
        if self.current:
            self._console.write(f" FAILED after {time.monotonic() - self._started[self.current]:.1f}s\n")
            self._console.flush()

    def interrupt(self) -> None:
        """On Ctrl-C: ends the open line (the one-line message that follows starts its own), then prints nothing."""
        self.interrupted = True
        if self.current:
            self._console.write("\n")
            self._console.flush()
