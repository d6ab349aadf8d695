"""What REST and gRPC share: run Predict/Classify/Regress on a version (batched when enabled) and log the request.

Both protocols decode their request into numpy arrays or serialized tf.Examples, call this, and encode the result,
so the same rows get the same scores whichever protocol carries them.
"""

import asyncio
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from serving.batching import BatchScheduler
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.request_log import RequestLogs
from serving.servable import Servable, Signature


async def wait(future: Future, timeout: float | None):
    """Awaits a thread's Future; a deadline raises asyncio.TimeoutError (and cancels the call if not started)."""
    if timeout is None:
        return await asyncio.wrap_future(future)
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


class InferenceService:
    """Runs requests against the models a `ModelManager` serves."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        request_logs: RequestLogs,
        batcher: BatchScheduler | None,
        workers: int,
    ):
        self.manager = manager
        self.metrics = metrics
        self.request_logs = request_logs
        self.batcher = batcher
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")

    def predict_future(
        self, servable: Servable, signature: Signature, inputs: Mapping[str, np.ndarray], output_filter=()
    ) -> Future:
        """Outputs of one Predict call, as a Future (for callers that must not block, such as the REST loop)."""
        if self.batcher is not None:
            future = self.batcher.submit(servable, signature, inputs, output_filter)
        else:
            future = self._pool.submit(servable.predict, signature, inputs, output_filter)
        future.add_done_callback(lambda done: self._log_predict(servable, signature, inputs, done))
        return future

    async def predict_async(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter=(),
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Outputs of one Predict call, for the event loop (REST and gRPC): the model runs on the inference threads
        (or in a batch), never on the loop, so a slow request cannot hold up the others."""
        return await wait(self.predict_future(servable, signature, inputs, output_filter), timeout)

    def classify(self, servable: Servable, signature: Signature, examples: list[bytes]):
        classes, scores = servable.classify(signature, examples)
        request_logger = self.request_logs.for_model(servable.name)
        if request_logger:
            request_logger.log_classify(servable, signature.name, examples, classes, scores)
        return classes, scores

    def regress(self, servable: Servable, signature: Signature, examples: list[bytes]) -> np.ndarray:
        values = servable.regress(signature, examples)
        request_logger = self.request_logs.for_model(servable.name)
        if request_logger:
            request_logger.log_regress(servable, signature.name, examples, values)
        return values

    def submit(self, function, *args) -> Future:
        """Runs `function(*args)` on the inference threads (Classify/Regress for the REST loop)."""
        return self._pool.submit(function, *args)

    def close(self) -> None:
        """Drops queued work (the clients are gone after the drain); calls already running finish."""
        if self.batcher is not None:
            self.batcher.close(drop_queued=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _log_predict(self, servable: Servable, signature: Signature, inputs, done: Future) -> None:
        if not done.cancelled() and done.exception() is None:
            self._log_outputs(servable, signature, inputs, done.result())

    def _log_outputs(self, servable: Servable, signature: Signature, inputs, outputs: Iterable) -> None:
        request_logger = self.request_logs.for_model(servable.name)
        if request_logger:
            request_logger.log_predict(servable, signature.name, dict(inputs), dict(outputs))
