"""Server-side batching with TF Serving's parameters (`--enable_batching`, `--batching_parameters_file`).

Like TF Serving's BatchingSession: concurrent Predict requests for the same version and signature, with the same
input names and inner shapes, are concatenated along dimension 0, run as one call, and split back. A batch is run
when it holds `max_batch_size` rows, or when its oldest request has waited `batch_timeout_micros` and a batch
thread is free; `num_batch_threads` batches run at once; past `max_enqueued_batches` full batches of queued work,
requests are refused with UNAVAILABLE, as TF Serving does.
"""

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future

import grpc
import numpy as np

from serving.servable import Servable, Signature, check_inputs
from serving.status import ServingError, invalid_argument, unavailable

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    future: Future
    enqueued: float


@dataclasses.dataclass
class _Queue:
    servable: Servable
    signature: Signature
    output_filter: tuple[str, ...]
    tasks: collections.deque = dataclasses.field(default_factory=collections.deque)
    rows: int = 0


class BatchScheduler:
    """Combines concurrent Predict calls into batches; `submit` returns a Future of the request's outputs."""

    def __init__(self, params, on_batch: Callable[[int, float], None]):
        self.max_batch_size = params.max_batch_size.value
        self.timeout = params.batch_timeout_micros.value / 1e6
        self.max_queued_rows = params.max_enqueued_batches.value * self.max_batch_size
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._queued_rows = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(params.num_batch_threads.value)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, servable: Servable, signature: Signature, inputs: Mapping[str, np.ndarray], output_filter=()
    ) -> Future:
        check_inputs(signature, inputs)
        sizes = {value.shape[0] if value.ndim else None for value in inputs.values()}
        if None in sizes:  # TF Serving's ComputeTensorBatchSize (batching/batching_util.h)
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        if len(sizes) != 1:
            raise invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
        future: Future = Future()
        rows = sizes.pop()
        if rows > self.max_batch_size:
            raise invalid_argument(f"Task size {rows} is larger than maximum input batch size {self.max_batch_size}")
        key = (
            id(servable),
            signature.name,
            tuple(sorted((name, value.dtype.str, value.shape[1:]) for name, value in inputs.items())),
            tuple(output_filter),
        )
        with self._cond:
            if self._closed:
                raise unavailable("The server is shutting down")
            if self._queued_rows + rows > self.max_queued_rows:
                queued_batches = -(-self._queued_rows // self.max_batch_size)
                raise unavailable(
                    "The batch scheduling queue to which this task was submitted is full; currently "
                    f"{queued_batches} batches enqueued and max_enqueued_batches is "
                    f"{self.max_queued_rows // self.max_batch_size}"
                )
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(servable, signature, tuple(output_filter))
            queue.tasks.append(_Task(inputs, rows, future, time.monotonic()))
            queue.rows += rows
            self._queued_rows += rows
            self._cond.notify()
        return future

    def close(self, drop_queued: bool = False) -> None:
        """Runs what is queued (or fails it with UNAVAILABLE when `drop_queued`), then stops the batch threads."""
        with self._cond:
            self._closed = True
            if drop_queued:
                for queue in self._queues.values():
                    for task in queue.tasks:
                        task.future.set_exception(unavailable("The server is shutting down"))
                self._queues.clear()
                self._queued_rows = 0
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _take_batch(self) -> tuple[_Queue, list[_Task]] | float | None:
        """A ready batch, or how long to wait for the oldest one (None: nothing queued)."""
        now = time.monotonic()
        oldest_key, oldest = None, None
        for key, queue in self._queues.items():
            if queue.tasks and (oldest is None or queue.tasks[0].enqueued < oldest.tasks[0].enqueued):
                oldest_key, oldest = key, queue
        if oldest is None:
            return None
        wait = oldest.tasks[0].enqueued + self.timeout - now
        if oldest.rows < self.max_batch_size and wait > 0 and not self._closed:
            return wait
        tasks, rows = [], 0
        while oldest.tasks and rows + oldest.tasks[0].rows <= self.max_batch_size:
            task = oldest.tasks.popleft()
            tasks.append(task)
            rows += task.rows
        oldest.rows -= rows
        self._queued_rows -= rows
        if not oldest.tasks:
            del self._queues[oldest_key]
        return oldest, tasks

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    taken = self._take_batch()
                    if isinstance(taken, tuple):
                        break
                    if taken is None and self._closed:
                        return
                    self._cond.wait(taken)
            self._run(*taken)

    def _run(self, queue: _Queue, tasks: list[_Task]) -> None:
        started = time.monotonic()
        tasks = [task for task in tasks if task.future.set_running_or_notify_cancel()]
        if not tasks:
            return
        try:
            if len(tasks) == 1:
                batched = tasks[0].inputs
            else:
                batched = {name: np.concatenate([t.inputs[name] for t in tasks]) for name in tasks[0].inputs}
            outputs = queue.servable.predict(queue.signature, batched, queue.output_filter, recorded=False)
            total = sum(t.rows for t in tasks)
            for name, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != total:
                    raise invalid_argument(
                        f"Batched output '{name}' has shape {list(value.shape)}, not [{total}, ...]: this signature "
                        "cannot be batched; run the server without --enable_batching"
                    )
        except ServingError as error:
            for task in tasks:
                task.future.set_exception(error)
            return
        except Exception as error:  # a bug must fail these requests, not leave them waiting forever
            logger.exception("batch of %d requests failed", len(tasks))
            for task in tasks:
                task.future.set_exception(ServingError(grpc.StatusCode.INTERNAL, f"batch failed: {error}"))
            return
        offset, finished = 0, time.monotonic()
        for task in tasks:
            # Per request, queueing included, as TF Serving times Session::Run through its BatchingSession.
            queue.servable.record_run("Predict", finished - task.enqueued)
            task.future.set_result({name: value[offset : offset + task.rows] for name, value in outputs.items()})
            offset += task.rows
        self._on_batch(sum(t.rows for t in tasks), started - tasks[0].enqueued)
