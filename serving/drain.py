"""Shutdown that loses no request: every request the server has received is answered, none is cancelled.

What `Server` does on SIGTERM, with the pieces below:
1. The REST port stops listening (so a readiness probe fails from then on). REST answers carry `Connection: close`,
   so a kept-alive connection takes at most one more request. gRPC answers finished after SIGTERM are held back.
2. Once no request is running and none has arrived for QUIET_SECONDS (every gRPC client is then waiting for a held
   answer, so none is sending), gRPC shuts down: GOAWAY sends its clients elsewhere and its port closes. It must not
   shut down earlier: grpcio cancels the calls it has received but not yet handed over (grpc core's ZombifyPending),
   which is how calls came back CANCELLED when it shut down at once.
3. The held answers go out, idle REST connections close, the server exits 0.
At the --drain_seconds deadline, requests still running are answered UNAVAILABLE (REST: 503) and counted in
`:kfx:serving:shutdown_unfinished_requests`; the model calls behind them cannot be cancelled and are abandoned.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web

from serving import codec
from serving.metrics import Metrics

logger = logging.getLogger(__name__)
QUIET_SECONDS = 0.1  # no handler started for this long on an idle loop: grpc core holds no unmatched call
GOAWAY_SECONDS = 0.05  # lets grpc core's GOAWAY reach the clients before the held answers do
SHUTTING_DOWN = "The server is shutting down"


class Drain:
    """Requests in flight, as REST middleware and a gRPC interceptor see them, and the steps of a drain."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics
        self._running: set[asyncio.Task] = set()
        self._last_arrival = 0.0
        self.draining = False
        self._deadline_passed = False
        self._released = asyncio.Event()  # set once gRPC clients were told to go away: held answers may leave
        self.unfinished = 0

    def _arrived(self) -> asyncio.Task:
        task = asyncio.current_task()
        self._running.add(task)
        self._last_arrival = asyncio.get_running_loop().time()
        return task

    @web.middleware
    async def rest(self, request: web.Request, handler) -> web.StreamResponse:
        """aiohttp middleware: tracks the request; at the deadline it answers 503 instead."""
        task = self._arrived()
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            if not self._deadline_passed:
                raise
            self._count_unfinished("REST")
            response = web.Response(body=codec.error_json(SHUTTING_DOWN), status=503, content_type="application/json")
        finally:
            self._running.discard(task)
        if self.draining:
            response.force_close()  # Connection: close, so the client reconnects elsewhere
        return response

    def grpc_interceptor(self) -> grpc.aio.ServerInterceptor:
        return _Interceptor(self)

    def wrap_unary(self, behavior: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
        async def unary(request, context: grpc.aio.ServicerContext):
            task = self._arrived()
            try:
                response = await behavior(request, context)
            except asyncio.CancelledError:
                if not self._deadline_passed:
                    raise
                self._running.discard(task)
                self._count_unfinished("GRPC")
                await context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
            finally:
                self._running.discard(task)
            if self.draining:
                await self._released.wait()
            return response

        return unary

    def _count_unfinished(self, entrypoint: str) -> None:
        self.unfinished += 1
        self._metrics.unfinished_at_shutdown(entrypoint)

    async def quiet(self, deadline: float) -> bool:
        """Waits until nothing runs and nothing arrived for QUIET_SECONDS (True), or until `deadline` (False)."""
        loop = asyncio.get_running_loop()
        while (now := loop.time()) < deadline:
            if not self._running and now - self._last_arrival >= QUIET_SECONDS:
                return True
            await asyncio.sleep(min(0.02, deadline - now))
        return False

    async def answer_the_rest(self, timeout: float = 0.5) -> None:
        """The deadline passed: requests still running are answered UNAVAILABLE (503) now."""
        self._deadline_passed = True
        for task in list(self._running):
            task.cancel()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._running and loop.time() < end:
            await asyncio.sleep(0.01)

    def release(self) -> None:
        """gRPC clients were told to go away: the held answers may leave."""
        self._released.set()


class _Interceptor(grpc.aio.ServerInterceptor):
    """Wraps each unary gRPC method once (the handlers are the same for every call)."""

    def __init__(self, drain: Drain):
        self._drain = drain
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None or handler.unary_unary is None:
                return handler
            wrapped = self._wrapped[method] = handler._replace(unary_unary=self._drain.wrap_unary(handler.unary_unary))
        return wrapped
