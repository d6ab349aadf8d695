"""A small SavedModel with every kind of signature TF Serving serves, for fast and exact protocol tests.

`y = 2 * x + offset`, so a reply tells which version answered (each version gets its own offset):
- serving_default: x (float32 [-1]), name (string [-1]) -> y (float32), greeting (string), name_bytes (string)
- classify: inputs (serialized tf.Example with float feature "x") -> classes [-1, 2], scores [-1, 2]
- regress: inputs (serialized tf.Example) -> outputs (float32 [-1])
- slow: spins (int64 [-1]) -> done: loops `spins` times, to keep a request in flight
- lookup, only when saved with a vocabulary: word (string [-1]) -> index (int64: its line in assets/, or -1)
and a TF Serving warmup file with one predict_log record.
"""

import os
import tempfile

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

_FEATURES = {"x": tf.io.FixedLenFeature([], tf.float32)}


class _Toy(tf.Module):
    def __init__(self, offset: float, vocabulary_file: str | None = None):
        super().__init__()
        self.offset = tf.Variable(offset, dtype=tf.float32)
        if vocabulary_file:  # read when the model is loaded, as a TFX model's transform vocabularies are
            self.vocabulary = tf.saved_model.Asset(vocabulary_file)
            initializer = tf.lookup.TextFileInitializer(
                self.vocabulary, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            )  # fmt: skip
            self.table = tf.lookup.StaticHashTable(initializer, default_value=-1)
            self.lookup = tf.function(
                lambda word: {"index": self.table.lookup(word)},
                input_signature=[tf.TensorSpec([None], tf.string, name="word")],
            )

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.float32, name="x"), tf.TensorSpec([None], tf.string, name="name")]
    )
    def predict(self, x, name):
        return {"y": 2.0 * x + self.offset, "greeting": tf.strings.join(["hello ", name]), "name_bytes": name}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        x = tf.io.parse_example(inputs, _FEATURES)["x"]
        positive = tf.sigmoid(x)
        batch = tf.shape(x)[0]
        classes = tf.tile(tf.constant([["neg", "pos"]]), [batch, 1])
        return {"classes": classes, "scores": tf.stack([1.0 - positive, positive], axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        return {"outputs": 2.0 * tf.io.parse_example(inputs, _FEATURES)["x"] + self.offset}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="spins")])
    def slow(self, spins):
        total = tf.reduce_max(spins)
        _, done = tf.while_loop(
            lambda i, acc: i < total,
            lambda i, acc: (i + 1, acc + 1),
            [tf.constant(0, tf.int64), tf.constant(0, tf.int64)],
        )
        return {"done": tf.fill(tf.shape(spins), done)}


def save_toy_model(path: str, offset: float = 1.0, warmup: bool = True, vocabulary: list[str] | None = None) -> str:
    """Writes one version to `path` (e.g. <base>/<version>) and returns it; a vocabulary adds `lookup`."""
    with tempfile.TemporaryDirectory() as scratch:  # saving copies the vocabulary into the model's assets/
        vocabulary_file = os.path.join(scratch, "vocabulary.txt") if vocabulary else None
        if vocabulary_file:
            with open(vocabulary_file, "w") as f:
                f.write("".join(f"{word}\n" for word in vocabulary))
        module = _Toy(offset, vocabulary_file)
        signatures = {
            "serving_default": module.predict.get_concrete_function(),
            "classify": module.classify.get_concrete_function(),
            "regress": module.regress.get_concrete_function(),
            "slow": module.slow.get_concrete_function(),
        }
        if vocabulary_file:
            signatures["lookup"] = module.lookup.get_concrete_function()
        tf.saved_model.save(module, path, signatures=signatures)
    if warmup:
        request = predict_pb2.PredictRequest()
        request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
        request.inputs["name"].CopyFrom(tf.make_tensor_proto([b"warmup"]))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")) as writer:
            writer.write(log.SerializeToString())
    return path


def example(x: float) -> bytes:
    return tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})
    ).SerializeToString()
