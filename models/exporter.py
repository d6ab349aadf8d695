"""Exports the trained model as a SavedModel for TF Serving, TFMA and batch scoring.

Signatures, all sharing one tf.Transform layer:
- `serving_default`: one named input per raw feature (numbers as float64 with NaN for missing, strings with ""
  for missing), so a TF Serving JSON request `{"instances": [{"fare": 12.5, "company": "Flash Cab", ...}]}` works.
  Its input keys are the features' safe names (features.safe_name: TensorFlow refuses others there), mapped back
  to the raw column names before the transform graph; our server also accepts a request naming the raw columns.
- `from_examples`: serialized `tf.Example` under the input `examples` (TFMA, batch inference, gRPC clients).
- `transform_features`: serialized `tf.Example` to transformed features, label included (TFMA's preprocessing).
Both prediction signatures return `{"score": probability of the positive class}` and agree row for row.
A TF Serving warmup file (`assets.extra/tf_serving_warmup_requests`) exercises both prediction signatures.
"""

import os
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tensorflow_transform.saved import saved_transform_io_v2

from models import features
from models import model as model_lib
from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE, SCORE_OUTPUT, SERVING_SIGNATURE, TRANSFORM_SIGNATURE

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


class _TransformGraph(tf.Module):
    """The tf.Transform graph as a plain tf.Module.

    TFT's `transform_features_layer()` does the same through a Keras model, whose save-time signature tracing
    cost about 15 s per export here; this keeps its tracking approach (the loader's state) without Keras.
    """

    def __init__(self, tf_transform_output: tft.TFTransformOutput):
        super().__init__()
        self._loader = saved_transform_io_v2.SavedModelLoader(tf_transform_output.transform_savedmodel_dir)
        # Tracked so the graph's tables, variables and vocabulary assets are saved with the model.
        self._loader_state = self._loader.__dict__

    def __call__(self, raw_features: dict[str, Any]) -> dict[str, Any]:
        return self._loader.apply_transform_model(raw_features)


class _ServingModule(tf.Module):
    """Holds the Keras model and the tf.Transform layer so both are tracked and saved together."""

    def __init__(self, model: keras.Model, tf_transform_output: tft.TFTransformOutput, spec: features.FeatureConfig):
        super().__init__()
        self.model = model
        self.tft_layer = _TransformGraph(tf_transform_output)
        self._spec = spec
        raw_spec = tf_transform_output.raw_feature_spec()
        missing = [c for c in spec.required_columns if c not in raw_spec]
        if missing:
            raise ValueError(f"columns {missing} are configured as features or label but are not in the schema")
        clashes = features.name_clashes(spec.raw_features)  # pipeline/config.py refuses these first
        if clashes:
            raise ValueError(
                f"features {list(clashes[0])} map to one serving input '{features.safe_name(clashes[0][0])}' "
                "(case ignored)"
            )
        self._model_raw_spec = {c: raw_spec[c] for c in spec.raw_features}
        self._full_raw_spec = raw_spec

    def score(self, raw_features: dict[str, Any]) -> dict[str, tf.Tensor]:
        transformed = self.tft_layer(raw_features)
        probability = self.model(model_lib.select_model_inputs(transformed, self._spec))
        return {SCORE_OUTPUT: tf.reshape(probability, [-1])}

    def parsed_input_signature(self) -> dict[str, Any]:
        """What `tf.io.parse_example` returns for the model's raw columns."""
        return {
            name: tf.SparseTensorSpec([None, None], spec.dtype)
            if isinstance(spec, tf.io.VarLenFeature)
            else tf.TensorSpec([None, *spec.shape], spec.dtype)
            for name, spec in self._model_raw_spec.items()
        }

    def serving_input_signature(self) -> dict[str, tf.TensorSpec]:
        """One input per raw feature, keyed (and named) by its safe name."""
        return {
            features.safe_name(name): tf.TensorSpec([None], _request_dtype(spec), name=features.safe_name(name))
            for name, spec in self._model_raw_spec.items()
        }

    def raw_from_request(self, request: dict[str, tf.Tensor]) -> dict[str, Any]:
        """Turns request tensors (keyed by safe names) into what `tf.io.parse_example` would give for the same row
        (keyed by the raw column names the transform graph reads)."""
        raw = {}
        for name, spec in self._model_raw_spec.items():
            value = request[features.safe_name(name)]
            if value.dtype == tf.string:
                present = tf.not_equal(value, "")
            else:
                present = tf.logical_not(tf.math.is_nan(value))
                value = tf.cast(value, spec.dtype)
            if isinstance(spec, tf.io.VarLenFeature):
                row = tf.where(present)[:, 0]
                indices = tf.stack([row, tf.zeros_like(row)], axis=1)
                shape = tf.stack([tf.shape(value, out_type=tf.int64)[0], tf.constant(1, tf.int64)])
                raw[name] = tf.SparseTensor(indices, tf.gather(value, row), shape)
            else:
                raw[name] = tf.reshape(value, [-1, *spec.shape])
        return raw


def _request_dtype(spec: Any) -> tf.DType:
    return tf.string if spec.dtype == tf.string else tf.float64


def export_serving_model(
    model: keras.Model, tf_transform_output: tft.TFTransformOutput, spec: features.FeatureConfig, export_dir: str
) -> None:
    """Saves `model` with its transform graph, three signatures and a TF Serving warmup file."""
    module = _ServingModule(model, tf_transform_output, spec)

    # Both prediction signatures call this one function, so the transform graph and model are traced and saved
    # once for prediction (export time is dominated by tracing the tf.Transform layer).
    @tf.function(input_signature=[module.parsed_input_signature()], autograph=False)
    def score(raw_features):
        return module.score(raw_features)

    @tf.function(input_signature=[module.serving_input_signature()], autograph=False)
    def serve_raw(request):
        return score(module.raw_from_request(request))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def serve_examples(examples):
        return score(tf.io.parse_example(examples, module._model_raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def transform_features(examples):
        return module.tft_layer(tf.io.parse_example(examples, module._full_raw_spec))

    signatures = {
        SERVING_SIGNATURE: serve_raw.get_concrete_function(),
        EXAMPLES_SIGNATURE: serve_examples.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    write_warmup_requests(export_dir, module._model_raw_spec)


def row_to_example(row: dict[str, Any], raw_spec: dict[str, Any]) -> bytes:
    """Serializes one raw row as a tf.Example typed by `raw_spec`; None, NaN and "" are left out (missing)."""
    feature = {}
    for name, spec in raw_spec.items():
        value = row.get(name)
        if value is None or value == "" or (isinstance(value, float) and value != value):
            continue
        if spec.dtype == tf.string:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
        elif spec.dtype == tf.int64:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_warmup_requests(export_dir: str, raw_spec: dict[str, Any]) -> None:
    """Writes one PredictRequest per prediction signature, the format TF Serving replays at load time.

    The row is a placeholder with every column present (a missing required column would fail parsing, and a
    failing warmup request fails the model's load): warmup only needs to run the graph, and no training data
    ends up inside the model's assets.
    """
    row = {name: ("warmup" if spec.dtype == tf.string else 0) for name, spec in raw_spec.items()}
    raw_request = predict_pb2.PredictRequest()
    raw_request.model_spec.signature_name = SERVING_SIGNATURE
    for name, spec in raw_spec.items():  # the serving signature's keys: the safe names
        raw_request.inputs[features.safe_name(name)].CopyFrom(
            tf.make_tensor_proto([row[name]], dtype=_request_dtype(spec))
        )
    examples_request = predict_pb2.PredictRequest()
    examples_request.model_spec.signature_name = EXAMPLES_SIGNATURE
    serialized = row_to_example(row, raw_spec)
    examples_request.inputs[EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto([serialized], dtype=tf.string))

    path = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for request in (raw_request, examples_request):
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
