"""TF Serving's REST API on aiohttp: the same URLs, bodies, status codes and `{"error": ...}` replies.

Routing follows TF Serving's regular expressions (model_servers/http_rest_api_util.cc), including its quirks: the
path is case-insensitive but the verb must be lower case; a status request with a label lists every version.
Every response carries the request's `x-request-id` (serving/request_id.py); name-only predict/classify/regress
requests are routed by the routing file (serving/router.py) and may get a shadow copy once answered.
"""

import asyncio
import logging
import re
import time
import urllib.parse

from aiohttp import web
from tensorflow_serving.apis import model_pb2

from serving import codec, example_json, json_inputs, request_id
from serving.limits import RequestLimits
from serving.metrics import Metrics
from serving.request_id import Call
from serving.servable import Servable, signature_for
from serving.service import InferenceService, wait
from serving.status import HTTP_STATUS, ServingError, failed_precondition, invalid_argument

_PREDICT = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?")
_API = re.compile(r"(?i)/v1/")
_JSON = "application/json"
_CORS_HEADERS = {  # TF Serving's AddCORSHeaders (--rest_api_enable_cors_support)
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
logger = logging.getLogger(__name__)
_INT64_MAX = 2**63 - 1


class SlowBody(Exception):
    """A request body that did not arrive within --rest_api_read_timeout_in_ms."""


class RestApi:
    """The aiohttp application serving /v1/models/... (and the Prometheus page when enabled)."""

    def __init__(
        self,
        service: InferenceService,
        metrics: Metrics,
        timeout_seconds: float | None,
        max_request_bytes: int,
        metrics_path: str | None = None,
        cors: bool = False,
        *,
        request_limits: RequestLimits,
    ):
        self._service = service
        self._limits = request_limits
        self._manager = service.manager
        self._metrics = metrics
        self._timeout = timeout_seconds
        self._metrics_path = metrics_path
        self._headers = _CORS_HEADERS if cors else {}
        self.app = web.Application(client_max_size=max_request_bytes)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        call, bad_id = Call(""), None
        try:
            call.request_id = request_id.take(request.headers.get(request_id.HEADER))
        except ServingError as error:  # answered below, with an id of the server's
            call.request_id, bad_id = request_id.generate(), error
        headers = {**self._headers, request_id.HEADER: call.request_id}
        if self._metrics_path and request.rel_url.raw_path == self._metrics_path and request.method == "GET":
            return web.Response(body=self._metrics.render(), content_type="text/plain", charset="utf-8",
                                headers=headers)  # fmt: skip
        path = request.raw_path  # with the query string: TF Serving matches its routes against both
        if not _API.match(path):  # TF Serving's HTTP library answers 404 outside /v1/
            reply = codec.error_json(f"Not found: {path}")
            return web.Response(body=reply, status=404, content_type=_JSON, headers=headers)
        started = time.monotonic()
        model_name, api, shadow = "", "", None
        self._service.busy()
        try:
            if bad_id is not None:
                raise bad_id
            body = await self._read(request)
            if request.method == "OPTIONS":  # a CORS preflight, answered as TF Serving's http_server.cc does
                if not re.search(r"https?://", request.headers.get("Origin", "")):
                    raise failed_precondition("Origin header is missing in CORS preflight")
                return web.Response(status=200, headers=headers)
            method, model_name, version, label, api, subresource = _route(request.method, path)
            if method == "POST":
                reply, shadow = await self._post(model_name, version, label, api, body, call)
            elif subresource == "metadata":
                reply = self._metadata(model_name, version, label)
            else:
                reply = self._status(model_name, version)
            status = 200
            code_name = "OK"
        except ServingError as error:
            reply, status, code_name = codec.error_json(error.message), HTTP_STATUS[error.code], error.code.name
        except SlowBody as error:
            reply, status, code_name = codec.error_json(str(error)), 408, "DEADLINE_EXCEEDED"
        except web.HTTPRequestEntityTooLarge as error:
            reply, status, code_name = codec.error_json(error.text), 413, "RESOURCE_EXHAUSTED"
        except asyncio.TimeoutError:  # not the built-in TimeoutError before Python 3.11
            reply, status, code_name = codec.error_json("Deadline Exceeded"), 504, "DEADLINE_EXCEEDED"
        except Exception as error:  # a bug answers 500 and is logged; the server keeps serving
            logger.exception("REST %s %s failed", request.method, path)
            reply, status, code_name = codec.error_json(f"Internal: {type(error).__name__}: {error}"), 500, "INTERNAL"
        finally:
            self._service.done()
        elapsed = time.monotonic() - started
        self._metrics.request(model_name, api, "REST", code_name, elapsed)
        if call.route:
            self._metrics.routed(call.model_name, call.version, call.route, code_name, elapsed)
        if shadow is not None and status == 200:  # queued once this answer is on its way
            asyncio.get_running_loop().call_soon(shadow)
        response = web.Response(body=reply, status=status, content_type=_JSON, headers=headers)
        if status == 408:  # close now: the rest of that body is no request, and aiohttp would linger 10 s for it
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.transport.close()
        return response

    async def _read(self, request: web.Request) -> bytes:
        """The body, or SlowBody if it does not arrive in time (slow, or shorter than its Content-Length)."""
        try:
            return await asyncio.wait_for(request.read(), self._limits.read_timeout_ms / 1000)
        except asyncio.TimeoutError:
            expected = request.content_length
            raise SlowBody(
                f"Request body not received within --rest_api_read_timeout_in_ms={self._limits.read_timeout_ms}: "
                f"{request.content.total_bytes} of {expected if expected is not None else 'its'} bytes arrived"
            ) from None

    async def _post(self, name: str, version: int | None, label: str | None, api: str, body: bytes, call: Call):
        """(reply body, the function that queues its shadow copy or None)."""
        document = codec.parse_body(body)
        signature_name = codec.signature_name(document)
        if api == "predict":
            servable = self._service.route(name, version, label, call)
            signature = servable.signature(signature_name)
            if signature is None:
                raise invalid_argument(
                    f'Serving signature name: "{signature_name or "serving_default"}" not found in signature def'
                )
            inputs, request_format = json_inputs.predict_inputs(document, signature.input_dtypes)
            outputs = await self._service.predict_async(servable, signature, inputs, (), self._timeout, call)
            return codec.predict_response(outputs, request_format), self._service.shadow(
                call, api, signature_name, inputs
            )
        examples = example_json.examples(document, self._limits.budget(len(body)))
        servable = self._service.route(name, version, label, call)
        signature = signature_for(servable, signature_name, api)
        run = self._service.classify if api == "classify" else self._service.regress
        outputs = await wait(self._service.submit(run, servable, signature, examples, call), self._timeout)
        if api == "classify":
            reply = example_json.classify_response(*outputs)
        else:
            reply = example_json.regress_response(outputs)
        return reply, self._service.shadow(call, api, signature_name, examples)

    def _status(self, name: str, version: int | None) -> bytes:
        if not name:
            raise invalid_argument("Missing model name in request.")
        return codec.status_json(self._manager.status(name, version))

    def _metadata(self, name: str, version: int | None, label: str | None) -> bytes:
        if not name:
            raise invalid_argument("Missing model name in request.")
        servable: Servable = self._manager.resolve(name, version, label)
        spec = model_pb2.ModelSpec(name=servable.name)
        spec.version.value = servable.version
        return codec.metadata_json(spec, servable.metadata())


def _route(http_method: str, path: str) -> tuple[str, str, int | None, str | None, str, str]:
    """(method, model, version, label, api, subresource) as TF Serving's ParseModelInfo reads them."""
    match = None
    if http_method == "POST":
        match = _PREDICT.fullmatch(path)
    elif http_method == "GET":
        match = _STATUS.fullmatch(path)
    if match is None:
        raise invalid_argument(f"Malformed request: {http_method} {path}")
    name, version_text, label, last = match.groups()
    name = urllib.parse.unquote(name or "")
    version = None
    if version_text:
        version = int(version_text)
        if version > _INT64_MAX:
            raise invalid_argument(f"Failed to convert version: {version_text} to numeric.")
    if label is not None:
        label = urllib.parse.unquote(label)
    if http_method == "POST":
        if last not in ("classify", "regress", "predict"):  # the regex ignores case, TF Serving's dispatch does not
            raise invalid_argument(f"Malformed request: {http_method} {path}")
        return http_method, name, version, label, last, ""
    return http_method, name, version, label, "", last or ""  # "/METADATA" gets the status, as in TF Serving
