"""Shadow copies: a sampled request run again on the `shadow` label's version, after its answer, off the request path.

One worker thread takes copies from a bounded queue and runs each only when no request is in flight (the protocols
call `busy()`/`done()` around each request): on two cores, any work beside a request delays it, and a thread holding
the GIL delays the event loop. So under a load that never leaves the server idle the queue fills and copies are
dropped, which is what a shadow should give way to. A full queue drops the copy. Each copy is counted in
`:kfx:serving:shadow_request_count{model_name,status}` (OK, DROPPED or its error code) and, when it ran, in
`:kfx:serving:route_request_count` / `route_request_latency` under route "shadow". Its predictions go to the request
log (route `shadow`, the request's id) and nowhere else: a shadow never changes, delays or fails an answer. On Linux
the worker runs at a lower CPU priority (nice 10), so on a busy machine the requests' own threads come first; the
threads TensorFlow runs the model's ops on are shared and keep their priority.
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from serving.metrics import Metrics
from serving.status import ServingError

logger = logging.getLogger(__name__)
QUEUE_SIZE = 64  # copies waiting; beyond it they are dropped, so a slow shadow cannot build up memory or lag
NICENESS = 10


def lower_priority(niceness: int = NICENESS) -> None:
    """Lowers the calling thread's CPU priority (Linux: setpriority on its thread id); a no-op where unsupported."""
    try:
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, max(current, niceness))
    except (AttributeError, OSError):
        pass


class ShadowRunner:
    """Runs shadow copies one at a time on its own thread."""

    def __init__(self, metrics: Metrics, queue_size: int = QUEUE_SIZE):
        self._metrics = metrics
        self._queue: queue.Queue[tuple[str, int, Callable[[], None]] | None] = queue.Queue(queue_size)
        self._in_flight = 0  # requests being answered; changed on the event loop only
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def busy(self) -> None:
        """A request arrived (event loop): copies wait."""
        self._in_flight += 1
        if self._in_flight == 1:
            self._idle.clear()

    def done(self) -> None:
        """A request was answered (event loop)."""
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def submit(self, model_name: str, version: int, copy: Callable[[], None]) -> None:
        """Queues a copy, or drops it (counted) when the queue is full; never blocks."""
        try:
            self._queue.put_nowait((model_name, version, copy))
        except queue.Full:
            self._metrics.shadowed(model_name, "DROPPED")

    def close(self) -> None:
        """Drops the copies still queued and stops the worker once the copy it runs is done."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._idle.set()

    def _run(self) -> None:
        lower_priority()
        while (item := self._queue.get()) is not None:
            self._idle.wait()
            model_name, version, copy = item
            started = time.monotonic()
            try:
                copy()
                status = "OK"
            except ServingError as error:
                status = error.code.name
            except Exception:  # a failing shadow must not stop the worker
                logger.exception("shadow copy on model %s version %d failed", model_name, version)
                status = "INTERNAL"
            self._metrics.routed(model_name, version, "shadow", status, time.monotonic() - started)
            self._metrics.shadowed(model_name, status)
