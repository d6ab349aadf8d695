"""Shadow copies: a sampled request run again on the `shadow` label's version, after its answer, off the request path.

One worker thread takes copies from a bounded queue and runs each only once no request has arrived or been in flight
for QUIET_SECONDS (the protocols call `busy()`/`done()` around each request): on two cores, any work beside a request
delays it, and a thread holding the GIL delays the event loop. So under a load that never leaves the server idle
the queue fills and copies are dropped, which is what a shadow should give way to; a request that arrives while a
copy runs still shares the CPU with it. A full queue drops the copy. Each copy is counted in
`:kfx:serving:shadow_request_count{model_name,status}` (OK, DROPPED or its error code) and, when it ran, in
`:kfx:serving:route_request_count` / `route_request_latency` under route "shadow". Its predictions go to the request
log (route `shadow`, the request's id) and nowhere else: a shadow never changes or fails an answer. On Linux the
worker runs at a lower CPU priority (nice 10); the threads TensorFlow runs the model's ops on are shared and keep
their priority.
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
# No request arrived or ran for this long before a copy starts. The worker looks this often (rather than being woken
# at every idle moment: each wake-up takes the GIL from the event loop, which cost 5-34 ms at p99 with 16 clients).
QUIET_SECONDS = 0.01


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
        self._in_flight = 0  # requests being answered; changed on the event loop only, read by the worker
        self._arrivals = 0
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def busy(self) -> None:
        """A request arrived (event loop): copies wait."""
        self._in_flight += 1
        self._arrivals += 1

    def done(self) -> None:
        """A request was answered (event loop)."""
        self._in_flight -= 1

    def full(self) -> bool:
        return self._queue.full()

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

    def _run(self) -> None:
        lower_priority()
        while (item := self._queue.get()) is not None:
            self._wait_for_quiet()
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

    def _wait_for_quiet(self) -> None:
        arrivals = -1
        while self._in_flight or self._arrivals != arrivals:
            arrivals = self._arrivals
            time.sleep(QUIET_SECONDS)
