"""What REST and gRPC share: route a request to a version, run Predict/Classify/Regress on it (batched when enabled),
log it, and queue its shadow copy.

Both protocols decode their request into numpy arrays or serialized tf.Examples, call this, and encode the result,
so the same rows get the same scores whichever protocol carries them.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from serving.batching import BatchScheduler
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.request_id import Call
from serving.request_log import RequestLogs
from serving.router import Router
from serving.routing import SHADOW
from serving.servable import Servable, Signature, signature_for
from serving.shadow import QUEUE_SIZE, ShadowRunner


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
        routing_config_file: str | None = None,
        shadow_queue_size: int = QUEUE_SIZE,
    ):
        self.manager = manager
        self.metrics = metrics
        self.request_logs = request_logs
        self.batcher = batcher
        self.router = Router(manager, routing_config_file)
        self._shadows = ShadowRunner(metrics, shadow_queue_size)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")

    def route(self, name: str, version: int | None, label: str | None, call: Call) -> Servable:
        """The servable that answers the request (recording its route and version on `call`)."""
        servable, call.route = self.router.choose(name, version, label, call.request_id)
        call.model_name, call.version = servable.name, servable.version
        return servable

    def shadow(self, call: Call, api: str, signature_name: str, payload, output_filter=()) -> Callable[[], None] | None:
        """For a request the routing file samples for a shadow: a function that queues its copy (the caller calls
        it once the answer is sent); else None. `payload` is the Predict inputs or the serialized tf.Examples."""
        servable = self.router.shadow(call.model_name, call.route, call.request_id)
        if servable is None:
            return None
        if self._shadows.full():  # counted now: no copy to build, nothing to queue after the answer
            self.metrics.shadowed(servable.name, "DROPPED")
            return None
        shadow_call = Call(call.request_id, SHADOW, servable.name, servable.version)

        def copy() -> None:
            signature = signature_for(servable, signature_name, api)
            if api == "predict":
                self._log_outputs(servable, signature, payload, servable.predict(signature, payload, output_filter),
                                  shadow_call)  # fmt: skip
            else:
                (self.classify if api == "classify" else self.regress)(servable, signature, payload, shadow_call)

        return lambda: self._shadows.submit(servable.name, servable.version, copy)

    def busy(self) -> None:
        """A request arrived (event loop): shadow copies wait for a quiet server (serving/shadow.py)."""
        self._shadows.busy()

    def done(self) -> None:
        self._shadows.done()

    def predict_future(
        self, servable: Servable, signature: Signature, inputs: Mapping[str, np.ndarray], output_filter, call: Call
    ) -> Future:
        """Outputs of one Predict call, as a Future (for callers that must not block, such as the REST loop)."""
        if self.batcher is not None:
            future = self.batcher.submit(servable, signature, inputs, output_filter)
        else:
            future = self._pool.submit(servable.predict, signature, inputs, output_filter)
        future.add_done_callback(lambda done: self._log_predict(servable, signature, inputs, done, call))
        return future

    async def predict_async(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter,
        timeout: float | None,
        call: Call,
    ) -> dict[str, np.ndarray]:
        """Outputs of one Predict call, for the event loop (REST and gRPC): the model runs on the inference threads
        (or in a batch), never on the loop, so a slow request cannot hold up the others."""
        return await wait(self.predict_future(servable, signature, inputs, output_filter, call), timeout)

    def classify(self, servable: Servable, signature: Signature, examples: list[bytes], call: Call):
        classes, scores = servable.classify(signature, examples)
        request_logger = self.request_logs.for_model(servable.name, call.request_id)
        if request_logger:
            request_logger.log_classify(servable, signature.name, examples, (classes, scores), call)
        return classes, scores

    def regress(self, servable: Servable, signature: Signature, examples: list[bytes], call: Call) -> np.ndarray:
        values = servable.regress(signature, examples)
        request_logger = self.request_logs.for_model(servable.name, call.request_id)
        if request_logger:
            request_logger.log_regress(servable, signature.name, examples, values, call)
        return values

    def submit(self, function, *args) -> Future:
        """Runs `function(*args)` on the inference threads (Classify/Regress for the REST loop)."""
        return self._pool.submit(function, *args)

    def close(self) -> None:
        """Drops queued work (the clients are gone after the drain); calls already running finish."""
        self._shadows.close()
        if self.batcher is not None:
            self.batcher.close(drop_queued=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _log_predict(self, servable: Servable, signature: Signature, inputs, done: Future, call: Call) -> None:
        if not done.cancelled() and done.exception() is None:
            self._log_outputs(servable, signature, inputs, done.result(), call)

    def _log_outputs(self, servable: Servable, signature: Signature, inputs, outputs: Iterable, call: Call) -> None:
        request_logger = self.request_logs.for_model(servable.name, call.request_id)
        if request_logger:
            request_logger.log_predict(servable, signature.name, dict(inputs), dict(outputs), call)
