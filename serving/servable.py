"""One loaded version of a model: its SavedModel, signatures, and Predict/Classify/Regress on numpy arrays.

Input checks and messages follow TF Serving (servables/tensorflow/predict_util.cc, classifier.cc, regressor.cc), so
a client sees the same errors here as from `tensorflow_model_server`.
"""

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_log_pb2

from serving import tensors
from serving.status import ServingError, failed_precondition, invalid_argument

DEFAULT_SIGNATURE = "serving_default"  # kDefaultServingSignatureDefKey
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # WarmupConsts::kMaxNumRecords
RunObserver = Callable[[str, str, float], None]  # (model name, API, seconds) of one successful model run


@dataclasses.dataclass(frozen=True)
class InputSpec:
    dtype: tf.DType
    dims: tuple[int, ...] | None  # None: any rank; -1: any size


class Signature:
    """A SignatureDef and its loaded function, with the input checks precomputed."""

    def __init__(self, name: str, definition: meta_graph_pb2.SignatureDef, function):
        self.name = name
        self.definition = definition
        self.inputs: Mapping[str, meta_graph_pb2.TensorInfo] = definition.inputs
        self.outputs: Mapping[str, meta_graph_pb2.TensorInfo] = definition.outputs
        self.input_specs = {
            key: InputSpec(
                tf.dtypes.as_dtype(info.dtype),
                None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim),
            )
            for key, info in definition.inputs.items()
        }
        self.input_dtypes = {key: spec.dtype for key, spec in self.input_specs.items()}
        self._function = function
        # The public call re-checks arguments that check_inputs already checked (about 0.3 ms a request here); the
        # flat call of a loaded function takes the same tensors in its flattened signature's order. The keyword
        # names, not the specs' names: a loaded signature's specs are named in lower case ("Sex" -> "sex").
        args, keywords = function.structured_input_signature
        self._flat_names = tf.nest.flatten({name: name for name in keywords})
        self._flat = (
            hasattr(function, "_call_flat") and not args and sorted(self._flat_names) == sorted(self.input_specs)
        )

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
        if self._flat:
            tensors = [tf.constant(inputs[name]) for name in self._flat_names]
            return self._function._call_flat(tensors, self._function.captured_inputs)
        return self._function(**inputs)


def _shape_text(dims: tuple) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def _read_signature_defs(path: str, tags: tuple[str, ...]) -> dict[str, meta_graph_pb2.SignatureDef]:
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        file_path = f"{path}/{name}"
        if tf.io.gfile.exists(file_path):
            with tf.io.gfile.GFile(file_path, "rb") as f:
                data = f.read()
            saved_model = saved_model_pb2.SavedModel()
            if name.endswith(".pb"):
                saved_model.ParseFromString(data)
            else:
                text_format.Parse(data.decode(), saved_model)
            for meta_graph in saved_model.meta_graphs:
                if set(meta_graph.meta_info_def.tags) == set(tags):
                    return dict(meta_graph.signature_def)
            raise ValueError(f"{file_path} has no MetaGraph tagged {sorted(tags)}")
    raise ValueError(f"{path} has no saved_model.pb")


class Servable:
    """A SavedModel version loaded for serving (by default the MetaGraph tagged "serve")."""

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        tags: tuple[str, ...] = ("serve",),
        method_name_check: bool = False,
        on_run: RunObserver | None = None,
    ):
        self.name = name
        self.version = version
        self.path = path
        self.method_name_check = method_name_check  # --enable_signature_method_name_check
        self._on_run = on_run
        self._definitions = _read_signature_defs(path, tags)
        self._loaded = tf.saved_model.load(path, tags=list(tags))
        self.signatures = {
            key: Signature(key, definition, self._loaded.signatures[key])
            for key, definition in self._definitions.items()
            if key in self._loaded.signatures
        }

    def signature(self, name: str) -> Signature | None:
        return self.signatures.get(name or DEFAULT_SIGNATURE)

    def metadata(self) -> get_model_metadata_pb2.SignatureDefMap:
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, definition in self._definitions.items():  # every SignatureDef, __saved_model_init_op included
            signature_map.signature_def[key].CopyFrom(definition)
        return signature_map

    def record_run(self, api: str, seconds: float) -> None:
        """Reports one model run (runtime_latency), for the batch threads that time each request themselves."""
        if self._on_run is not None:
            self._on_run(self.name, api, seconds)

    def predict(
        self,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter: Iterable[str] = (),
        api: str = "Predict",
        recorded: bool = True,
    ) -> dict[str, np.ndarray]:
        """Runs a signature; `inputs` must match its names, dtypes and shapes. The run is reported as `api`
        unless `recorded` is False (a batch, whose requests are reported one by one)."""
        check_inputs(signature, inputs)
        wanted = list(output_filter)
        for alias in wanted:
            if alias not in signature.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}."
                )
        if len(set(wanted)) != len(wanted):
            raise invalid_argument(f"duplicate output tensor alias: {next(a for a in wanted if wanted.count(a) > 1)}")
        started = time.monotonic()
        try:
            result = signature(inputs)
        except tf.errors.OpError as error:
            raise ServingError(_grpc_code(error), op_error_text(error.message)) from None
        if recorded:
            self.record_run(api, time.monotonic() - started)
        return {key: value.numpy() for key, value in result.items() if not wanted or key in wanted}

    def classify(self, signature: Signature, examples: list[bytes]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(classes [batch, n] of bytes or None, scores [batch, n] float32 or None), as TF Serving's classifier."""
        check_classification_signature(signature, self.method_name_check)
        outputs = self.predict(signature, {"inputs": np.array(examples, dtype=object)}, api="Classify")
        classes, scores = outputs.get("classes"), outputs.get("scores")
        for label, tensor in (("classes", classes), ("scores", scores)):
            if tensor is not None and (tensor.ndim != 2 or tensor.shape[0] != len(examples)):
                raise invalid_argument(
                    f"Expected Tensor shape: [batch_size num_classes] but got {_shape_text(tensor.shape)} for {label}"
                )
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise invalid_argument(
                f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
            )
        return classes, scores

    def regress(self, signature: Signature, examples: list[bytes]) -> np.ndarray:
        """One float per example, as TF Serving's regressor."""
        check_regression_signature(signature, self.method_name_check)
        values = self.predict(signature, {"inputs": np.array(examples, dtype=object)}, api="Regress")["outputs"]
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != len(examples):
            raise invalid_argument(
                f"Expected output Tensor shape to be [batch_size] or [batch_size, 1] but got "
                f"{_shape_text(values.shape)}"
            )
        return values


_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}  # TensorFlow's error codes are gRPC's
_OP_SUFFIX = re.compile(r" \[Op:[^\]]*\]$")


def op_error_text(message: str) -> str:
    """What the op said, as TF Serving reports it, without eager TensorFlow's "Graph execution error" wrapper.

    "Graph execution error:\n\nDetected at node N defined at (most recent call last):\n<stack>\nCould not parse
    example input, ...\n\t [[{{node N}}]] [Op:__inference_...]" becomes "Could not parse example input, ...".
    """
    lines = message.split("\n")
    if lines[0].startswith("Graph execution error"):
        kept, in_trace = [], False
        for line in lines[1:]:
            if line.startswith("Detected at node"):
                in_trace = True
            elif in_trace and (line.startswith(" ") or line.startswith("<stack traces") or not line.strip()):
                continue
            else:
                in_trace = False
                kept.append(line)
        lines = kept or lines
    return _OP_SUFFIX.sub("", "\n".join(line for line in lines if line.strip()))


def _grpc_code(error: tf.errors.OpError) -> grpc.StatusCode:
    return _GRPC_CODES.get(error.error_code, grpc.StatusCode.UNKNOWN)


def check_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """TF Serving's request checks: the same input names, then each dtype and shape against the signature."""
    expected = signature.input_specs
    if inputs.keys() != expected.keys():
        extra, missing = sorted(set(inputs) - set(expected)), sorted(set(expected) - set(inputs))
        raise invalid_argument(
            f"input size does not match signature: {len(inputs)}!={len(expected)} len({{{','.join(sorted(inputs))}}}) "
            f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(extra)}}}. "
            f"Missing but required: {{{','.join(missing)}}}."
        )
    for name, value in inputs.items():
        spec = expected[name]
        got = tf.string if value.dtype == object or value.dtype.kind in "SU" else tf.dtypes.as_dtype(value.dtype)
        if got != spec.dtype:  # TensorFlow's own words; DirectSession numbers the feeds sorted by tensor name
            feeds = sorted(expected, key=lambda key: signature.inputs[key].name)
            raise invalid_argument(
                f"Expects arg[{feeds.index(name)}] to be {tensors.dtype_name(spec.dtype)} but "
                f"{tensors.dtype_name(got)} is provided"
            )
        dims = spec.dims
        if dims is not None:
            fits = len(dims) == value.ndim and all(d in (-1, n) for d, n in zip(dims, value.shape, strict=True))
            if not fits:
                raise invalid_argument(
                    f"input '{name}': shape {_shape_text(value.shape)} is not compatible with the signature's "
                    f"{_shape_text(dims)}"
                )


CLASSIFY_METHOD, REGRESS_METHOD = "tensorflow/serving/classify", "tensorflow/serving/regress"


def _check_method(signature: Signature, expected: str, check: bool) -> None:
    if check and signature.definition.method_name != expected:
        kind = "classification" if expected == CLASSIFY_METHOD else "regression"
        raise invalid_argument(
            f"Expected {kind} signature method_name to be {expected}. Was: {signature.definition.method_name}"
        )


def check_classification_signature(signature: Signature, method_name_check: bool = False) -> None:
    _check_method(signature, CLASSIFY_METHOD, method_name_check)
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "inputs" not in signature.inputs:
        raise invalid_argument(
            f"No classification inputs found in SignatureDef '{signature.name}': it takes "
            f"{sorted(signature.inputs)}, classification needs one string input named 'inputs' (serialized "
            "tf.Example); use :predict for this signature"
        )
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature '{signature.name}' has {sorted(signature.outputs)}"
        )


def check_regression_signature(signature: Signature, method_name_check: bool = False) -> None:
    _check_method(signature, REGRESS_METHOD, method_name_check)
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise invalid_argument(
            f"No regression inputs found in SignatureDef '{signature.name}': it takes {sorted(signature.inputs)}, "
            "regression needs one string input named 'inputs' (serialized tf.Example); use :predict for this signature"
        )
    if "outputs" not in signature.outputs:
        raise invalid_argument(
            f"No regression outputs found in SignatureDef '{signature.name}': it has {sorted(signature.outputs)}, "
            "regression needs one float output named 'outputs'"
        )


def signature_for(servable: Servable, name: str, api: str) -> Signature:
    """The named signature (default serving_default), or the error TF Serving returns for that API."""
    signature = servable.signature(name)
    if signature is not None:
        return signature
    name = name or DEFAULT_SIGNATURE
    if api == "predict":
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    raise invalid_argument(f"No signature was found with the name: {name}")


def fill_classification_result(result, outputs: tuple[np.ndarray | None, np.ndarray | None]) -> None:
    """Writes `Servable.classify` outputs into a ClassificationResult proto."""
    classes, scores = outputs
    reference = classes if classes is not None else scores
    for row in range(reference.shape[0]):
        entry = result.classifications.add()
        for column in range(reference.shape[1]):
            label = classes[row, column].decode(errors="replace") if classes is not None else ""
            entry.classes.add(label=label, score=float(scores[row, column]) if scores is not None else 0.0)


def fill_regression_result(result, values: np.ndarray) -> None:
    """Writes `Servable.regress` outputs into a RegressionResult proto."""
    for value in values:
        result.regressions.add(value=float(value))


def _examples(request) -> list[bytes]:
    which = request.input.WhichOneof("kind")
    if which == "example_list":
        return [e.SerializeToString() for e in request.input.example_list.examples]
    if which == "example_list_with_context":
        context = request.input.example_list_with_context.context
        merged = []
        for example in request.input.example_list_with_context.examples:
            combined = tf.train.Example()
            combined.CopyFrom(context)
            combined.MergeFrom(example)
            merged.append(combined.SerializeToString())
        return merged
    raise invalid_argument("Input is empty: give example_list or example_list_with_context")


def examples_of(request) -> list[bytes]:
    """The serialized tf.Examples of a Classification/RegressionRequest (context merged into each example)."""
    examples = _examples(request)
    if not examples:
        raise invalid_argument("Input is empty.")
    return examples


def warm_up(servable: Servable, iterations: int) -> tuple[int, float]:
    """Replays `assets.extra/tf_serving_warmup_requests` (PredictionLog records); returns (records, seconds).

    A failing record fails the load, as in TF Serving, so a version whose warmup breaks is never AVAILABLE.
    """
    path = f"{servable.path}/{WARMUP_FILE}"
    if not tf.io.gfile.exists(path):
        return 0, 0.0
    started = time.monotonic()
    records = [record.numpy() for record in tf.data.TFRecordDataset(path)]
    if len(records) > MAX_WARMUP_RECORDS:
        raise invalid_argument(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    for raw in records:
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        kind = log.WhichOneof("log_type")
        for _ in range(iterations):
            if kind == "predict_log":
                request = log.predict_log.request
                signature = signature_for(servable, request.model_spec.signature_name, "predict")
                inputs = {k: tensors.from_proto(v) for k, v in request.inputs.items()}
                servable.predict(signature, inputs, request.output_filter)
            elif kind == "classify_log":
                request = log.classify_log.request
                servable.classify(
                    signature_for(servable, request.model_spec.signature_name, "classify"), examples_of(request)
                )
            elif kind == "regress_log":
                request = log.regress_log.request
                servable.regress(
                    signature_for(servable, request.model_spec.signature_name, "regress"), examples_of(request)
                )
            else:
                raise invalid_argument(f"Unsupported log_type for warmup: {kind} in {path}")
    return len(records), time.monotonic() - started
