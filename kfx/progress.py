"""Console progress for a local run: one line per component, while TFX/Beam/TensorFlow output goes to a log file."""

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def output_to_log(log_path: str, verbose: bool) -> Iterator[TextIO]:
    """Sends everything written to stdout/stderr (Python and native code) and all logging to `log_path`.

    Yields a stream that still reaches the user's terminal. With `verbose`, output is not redirected.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    root = logging.getLogger()
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(file_handler)
    if verbose:
        try:
            yield sys.stdout
        finally:
            root.removeHandler(file_handler)
            root.setLevel(previous_level)
        return

    sys.stdout.flush()
    sys.stderr.flush()
    saved_stdout, saved_stderr = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    # Handlers writing to the console (absl's, or a basicConfig one) would bypass the file otherwise.
    console_handlers = [h for h in root.handlers if h is not file_handler]
    for handler in console_handlers:
        root.removeHandler(handler)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield console
    finally:
        with contextlib.suppress(OSError):  # the log's disk may be full: restoring the console matters more
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved_stdout, 1)
        os.dup2(saved_stderr, 2)
        for fd in (log_fd, saved_stdout, saved_stderr):
            os.close(fd)
        root.removeHandler(file_handler)
        for handler in console_handlers:
            root.addHandler(handler)
        root.setLevel(previous_level)
        console.close()
