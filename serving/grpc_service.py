"""TF Serving's gRPC services on grpcio, with the `tensorflow-serving-api` protos: the wire format is TF Serving's.

`tensorflow.serving.PredictionService` (Predict, Classify, Regress, MultiInference, GetModelMetadata) and
`tensorflow.serving.ModelService` (GetModelStatus, HandleReloadConfigRequest), on grpcio's asyncio server in the
same event loop as REST: with 16 concurrent clients it answered 1.25-1.5 times the requests of grpcio's thread-pool
server here, whose many threads fight the model's threads for the GIL. Model calls run on the inference threads.
Every PredictionService call answers the request's `x-request-id` in its initial metadata (serving/request_id.py);
name-only Predict/Classify/Regress/MultiInference requests are routed by the routing file (serving/router.py), and
Predict/Classify/Regress may get a shadow copy once answered.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import grpc
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

from serving import input_names, limits, request_id, tensors
from serving.limits import DecodeBudget, RequestLimits
from serving.metrics import Metrics
from serving.request_id import Call
from serving.servable import (
    Servable,
    examples_of,
    fill_classification_result,
    fill_regression_result,
    signature_for,
)
from serving.service import InferenceService, wait
from serving.status import ServingError, invalid_argument

MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving lifts gRPC's 4 MB default to INT_MAX
_SIGNATURE_DEF = "signature_def"


def _spec_parts(spec) -> tuple[str, int | None, str | None]:
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    which = spec.WhichOneof("version_choice")
    return (
        spec.name,
        spec.version.value if which == "version" else None,
        spec.version_label if which == "version_label" else None,
    )


def _resolve(service: InferenceService, spec) -> Servable:
    return service.manager.resolve(*_spec_parts(spec))


def _route(service: InferenceService, spec, call: Call) -> Servable:
    return service.route(*_spec_parts(spec), call)


async def _send_id(context: grpc.aio.ServicerContext) -> None:
    """Returns the request's id (a new one if it has none or a malformed one) for calls that do not use it."""
    await context.send_initial_metadata(((request_id.HEADER, _request_id(context)[0]),))


def _request_id(context: grpc.aio.ServicerContext) -> tuple[str, ServingError | None]:
    """(the id to answer with, the error if the request's own id is malformed)."""
    supplied = next((value for key, value in context.invocation_metadata() or () if key == request_id.HEADER), None)
    try:
        return request_id.take(supplied), None
    except ServingError as error:
        return request_id.generate(), error


def _answer(response_spec, servable: Servable, signature_name: str) -> None:
    response_spec.name = servable.name
    response_spec.version.value = servable.version
    response_spec.signature_name = signature_name


class _Calls:
    """Counts and times each call as TF Serving does, and turns ServingError into the gRPC status."""

    def __init__(self, metrics: Metrics, service: InferenceService):
        self._metrics = metrics
        self._service = service

    async def run(
        self, api: str, model_name: str, context: grpc.aio.ServicerContext, call: Callable[[Call], Awaitable]
    ):
        """Runs `call` with the request's id (returned in the initial metadata, errors included); a shadow copy it
        left on the Call is queued once the answer is sent."""
        started = time.monotonic()
        given_id, bad_id = _request_id(context)
        record = Call(given_id)
        await context.send_initial_metadata(((request_id.HEADER, record.request_id),))
        self._service.busy()
        try:
            if bad_id is not None:
                raise bad_id
            response = await call(record)
        except ServingError as error:
            self._service.done()
            self._record(api, model_name, record, error.code.name, started)
            await context.abort(error.code, error.message)
        except asyncio.TimeoutError:  # not the built-in TimeoutError before Python 3.11
            self._service.done()
            self._record(api, model_name, record, "DEADLINE_EXCEEDED", started)
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        except BaseException:
            self._service.done()
            raise
        self._service.done()
        self._record(api, model_name, record, "OK", started)
        if record.shadow is not None:
            shadow = record.shadow
            context.add_done_callback(lambda _context: shadow())
        return response

    def _record(self, api: str, model_name: str, call: Call, status: str, started: float) -> None:
        elapsed = time.monotonic() - started
        self._metrics.request(model_name, api, "GRPC", status, elapsed)
        if call.route:
            self._metrics.routed(call.model_name, call.version, call.route, status, elapsed)


def _inputs(request: predict_pb2.PredictRequest, budget: DecodeBudget) -> dict:
    """The request's tensors as arrays, every one charged to the budget before the first is decoded."""
    for name, proto in request.inputs.items():
        limits.spend_on_tensor(budget, name, proto)
    inputs = {}
    for name, proto in request.inputs.items():
        try:
            inputs[name] = tensors.from_proto(proto)
        except (ValueError, TypeError, tf.errors.OpError):
            raise invalid_argument(f"tensor parsing error: {name}") from None
    return inputs


def _examples(request, budget: DecodeBudget) -> list[bytes]:
    """The serialized tf.Examples of a Classify/Regress/MultiInference request, charged before the context is
    merged into each."""
    which = request.input.WhichOneof("kind")
    if which == "example_list":
        limits.spend_on_examples(budget, 0, [e.ByteSize() for e in request.input.example_list.examples])
    elif which == "example_list_with_context":
        listed = request.input.example_list_with_context
        limits.spend_on_examples(budget, listed.context.ByteSize(), [e.ByteSize() for e in listed.examples])
    return examples_of(request)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self,
        service: InferenceService,
        metrics: Metrics,
        outputs_as_content: bool = False,
        *,
        request_limits: RequestLimits,
    ):
        self._service = service
        self._metrics = metrics
        self._calls = _Calls(metrics, service)
        self._outputs_as_content = outputs_as_content  # --enable_serialization_as_tensor_content
        self._limits = request_limits

    async def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:  # noqa: N802
        async def call(record: Call) -> predict_pb2.PredictResponse:
            servable = _route(self._service, request.model_spec, record)
            signature_name = request.model_spec.signature_name
            signature = signature_for(servable, signature_name, "predict")
            inputs = _inputs(request, self._limits.budget(request.ByteSize()))
            inputs = input_names.renamed(
                inputs, input_names.renames(inputs, signature.inputs), "PredictRequest inputs: "
            )
            outputs = await self._service.predict_async(
                servable, signature, inputs, request.output_filter, context.time_remaining(), record
            )
            record.shadow = self._service.shadow(record, "predict", signature_name, inputs, list(request.output_filter))
            response = predict_pb2.PredictResponse()
            _answer(response.model_spec, servable, signature.name)
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tensors.to_proto(value, self._outputs_as_content))
            return response

        return await self._calls.run("Predict", request.model_spec.name, context, call)

    async def _examples_call(self, api: str, request, response, context):
        """Classify and Regress: serialized tf.Examples in, TF Serving's result protos out."""

        async def call(record: Call):
            servable = _route(self._service, request.model_spec, record)
            signature = signature_for(servable, request.model_spec.signature_name, api.lower())
            examples = _examples(request, self._limits.budget(request.ByteSize()))
            _answer(response.model_spec, servable, signature.name)
            outputs = await self._examples_outputs(api.lower(), servable, signature, examples, context, record)
            _FILL[api.lower()](response.result, outputs)
            record.shadow = self._service.shadow(record, api.lower(), request.model_spec.signature_name, examples)
            return response

        return await self._calls.run(api, request.model_spec.name, context, call)

    async def _examples_outputs(self, method: str, servable: Servable, signature, examples, context, record: Call):
        run = self._service.classify if method == "classify" else self._service.regress
        return await wait(self._service.submit(run, servable, signature, examples, record), context.time_remaining())

    async def Classify(self, request: classification_pb2.ClassificationRequest, context):  # noqa: N802
        return await self._examples_call("Classify", request, classification_pb2.ClassificationResponse(), context)

    async def Regress(self, request: regression_pb2.RegressionRequest, context):  # noqa: N802
        return await self._examples_call("Regress", request, regression_pb2.RegressionResponse(), context)

    async def MultiInference(self, request: inference_pb2.MultiInferenceRequest, context):  # noqa: N802
        async def call(record: Call) -> inference_pb2.MultiInferenceResponse:
            # TF Serving's checks (servables/tensorflow/multi_inference.cc): one model, distinct signatures.
            if not request.tasks:
                raise invalid_argument("Inference tasks are empty")
            specs = [(t.model_spec.name, t.model_spec.version.value, t.model_spec.version_label) for t in request.tasks]
            if len(set(specs)) != 1:
                raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name")
            signatures = [t.model_spec.signature_name or "serving_default" for t in request.tasks]
            if len(set(signatures)) != len(signatures):
                raise invalid_argument(f"Duplicate evaluation of signature: {signatures[0]}")
            examples = _examples(request, self._limits.budget(request.ByteSize()))
            response = inference_pb2.MultiInferenceResponse()
            for task in request.tasks:  # one model spec, so one route for every task
                servable = _route(self._service, task.model_spec, record)
                method = task.method_name.rsplit("/", 1)[-1]
                if method not in ("classify", "regress"):
                    raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {method}")
                signature = signature_for(servable, task.model_spec.signature_name, method)
                result = response.results.add()
                _answer(result.model_spec, servable, signature.name)
                outputs = await self._examples_outputs(method, servable, signature, examples, context, record)
                _FILL[method](
                    result.classification_result if method == "classify" else result.regression_result, outputs
                )
            self._metrics.examples(request.tasks[0].model_spec.name, len(examples))  # as TF Serving, here only
            return response

        name = request.tasks[0].model_spec.name if request.tasks else ""
        return await self._calls.run("MultiInference", name, context, call)

    async def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):  # noqa: N802
        async def call(_record: Call) -> get_model_metadata_pb2.GetModelMetadataResponse:
            if not request.metadata_field:
                raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != _SIGNATURE_DEF:
                    raise invalid_argument(f"Metadata field {field} is not supported")
            servable = _resolve(self._service, request.model_spec)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata[_SIGNATURE_DEF].Pack(servable.metadata())
            return response

        return await self._calls.run("GetModelMetadata", request.model_spec.name, context, call)


_FILL = {"classify": fill_classification_result, "regress": fill_regression_result}


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: InferenceService, reload_config: Callable[[ModelServerConfig], None]):
        self._service = service
        self._reload_config = reload_config

    async def GetModelStatus(self, request, context):  # noqa: N802
        await _send_id(context)
        if not request.model_spec.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        version = request.model_spec.version.value if request.model_spec.HasField("version") else None
        try:
            return self._service.manager.status(request.model_spec.name, version)
        except ServingError as error:
            await context.abort(error.code, error.message)

    async def HandleReloadConfigRequest(self, request: model_management_pb2.ReloadConfigRequest, context):  # noqa: N802
        """Applies the config and loads what it asks for (seconds) off the event loop; failures are the RPC's status."""
        await _send_id(context)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._reload_config, request.config)
        except ServingError as error:
            await context.abort(error.code, error.message)
        except ValueError as error:  # a config TF Serving would refuse
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return model_management_pb2.ReloadConfigResponse()


class _Registrations:
    """Stands in for the server while the generated add_*_to_server functions register their handlers."""

    def __init__(self):
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.handlers.extend(handlers)


_UNPARSED = object()


class _UnparsedIsInternal(grpc.GenericRpcHandler):
    """A request message that does not parse is INTERNAL, as gRPC C++ (so TF Serving) answers it; grpcio's asyncio
    server would answer UNKNOWN "Unexpected DecodeError", as if the server had failed."""

    def __init__(self, handler: grpc.GenericRpcHandler):
        self._handler = handler
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # the service's own methods only: a bounded set

    def service(self, handler_call_details):
        wrapped = self._wrapped.get(handler_call_details.method)
        if wrapped is None:
            method = self._handler.service(handler_call_details)
            if method is None or method.unary_unary is None:
                return method
            wrapped = self._wrapped[handler_call_details.method] = self._lenient(method)
        return wrapped

    @staticmethod
    def _lenient(method: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        parse, behaviour = method.request_deserializer, method.unary_unary

        def lenient(raw: bytes):
            try:
                return parse(raw)
            except DecodeError:
                return _UNPARSED

        async def answer(request, context):
            if request is _UNPARSED:
                await _send_id(context)
                await context.abort(grpc.StatusCode.INTERNAL, "Failed to parse the request message")
            return await behaviour(request, context)

        return method._replace(request_deserializer=lenient, unary_unary=answer)


async def start_grpc_server(
    addresses: list[str],
    prediction: PredictionService,
    models: ModelService,
    arguments: list[tuple[str, object]],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> grpc.aio.Server:
    """Listens on each address (host:port, or unix:path for --grpc_socket_path)."""
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", -1),
            *arguments,
        ],
    )
    generated = _Registrations()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, generated)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, generated)
    server.add_generic_rpc_handlers([_UnparsedIsInternal(handler) for handler in generated.handlers])
    for address in addresses:
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen for gRPC on {address} (is the port in use?)")
    await server.start()
    return server
