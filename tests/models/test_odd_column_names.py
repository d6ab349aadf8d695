"""Columns whose names are not TensorFlow names ("mean radius", "flc.grp", "Sex (M/F)", "2023", "naïve") go through
a real tf.Transform analysis and the Trainer's run_fn (tf.Examples read through TFXIO, training, export); the serving
signature takes their safe names, and the model server takes the raw names too: REST rows and columns, gRPC Predict
and `kfx predict` on a CSV with the raw header all get the scores the signature gives in process.
"""

import csv
import functools
import io
import json
import os
import random
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from conftest import run_kfx
from server_process import builtin_server
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.components.trainer import fn_args_utils
from tfx.components.util import tfxio_utils
from tfx.types import artifact_utils, standard_artifacts

from models import exporter, features, preprocessing, signatures, trainer
from models.hparams import HParams

pytestmark = pytest.mark.slow  # about 30 s: Transform, run_fn, a server and a kfx predict subprocess

ROWS = 200
MODEL = "odd_names"
SPEC = features.FeatureConfig(
    label=features.LabelRule(name="malignant", column="diagnosis (B/M)", one_of=("M",)),
    numeric=("mean radius", "2023"),
    bucketized=("naïve",),
    categorical=("flc.grp", "Sex (M/F)"),
    num_buckets=4,
)
RAW_SPEC = {
    "mean radius": tf.io.FixedLenFeature([1], tf.float32),
    "2023": tf.io.FixedLenFeature([1], tf.int64),
    "naïve": tf.io.VarLenFeature(tf.float32),  # optional: some rows leave it out
    "flc.grp": tf.io.FixedLenFeature([1], tf.string),
    "Sex (M/F)": tf.io.FixedLenFeature([1], tf.string),
    "diagnosis (B/M)": tf.io.FixedLenFeature([1], tf.string),
}
SAFE = {
    "mean radius": "mean_radius",
    "2023": "c_2023",
    "naïve": "na_ve",
    "flc.grp": "flc_grp",
    "Sex (M/F)": "Sex__M_F_",
}


def _rows() -> list[dict]:
    """Rows whose label the features predict in part; "naïve" is missing in every tenth."""
    generator = random.Random(16)
    rows = []
    for index in range(ROWS):
        malignant = index % 2 == 0
        rows.append({
            "mean radius": round(generator.gauss(17.0 if malignant else 12.0, 2.0), 2),
            "2023": generator.randint(0, 9),
            "naïve": None if index % 10 == 0 else round(generator.random(), 3),
            "flc.grp": generator.choice("abc"),
            "Sex (M/F)": generator.choice("MF"),
            "diagnosis (B/M)": "M" if malignant else "B",
        })  # fmt: skip
    return rows


def _examples_artifact(rows: list[dict], root) -> standard_artifacts.Examples:
    """The rows as ExampleGen leaves them: tf.Examples keyed by the raw names, in a train and an eval split."""
    examples = standard_artifacts.Examples()
    examples.uri = str(root)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split, part in (("train", rows[: ROWS * 3 // 4]), ("eval", rows[ROWS * 3 // 4 :])):
        os.makedirs(root / f"Split-{split}")
        with tf.io.TFRecordWriter(str(root / f"Split-{split}" / "data.tfrecord")) as writer:
            for row in part:
                writer.write(exporter.row_to_example(row, RAW_SPEC))
    return examples


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The rows, and the Trainer's run_fn trained on them for a few steps, exported as version 1 under "base"."""
    rows = _rows()
    schema = schema_utils.schema_from_feature_spec(RAW_SPEC)
    instances = [
        {k: [] if v is None else [v.encode() if isinstance(v, str) else v] for k, v in row.items()} for row in rows
    ]
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config={features.FEATURES_KEY: SPEC.to_dict()})
    output_dir = str(tmp_path_factory.mktemp("transform_output"))
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft_tmp"))):
        transform_fn = (instances, dataset_metadata.DatasetMetadata(schema)) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    examples = [_examples_artifact(rows, tmp_path_factory.mktemp("examples"))]
    data_accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(examples, []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact(examples, []),
        data_view_decode_fn=None,
    )
    base = tmp_path_factory.mktemp("served") / MODEL
    hparams = HParams(batch_size=32, steps_per_evaluation=3, validation_rows=64, hidden_units=(16,))
    trainer.run_fn(
        fn_args_utils.FnArgs(
            train_files=[os.path.join(examples[0].uri, "Split-train", "*")],
            eval_files=[os.path.join(examples[0].uri, "Split-eval", "*")],
            transform_graph_path=output_dir,  # as TFX sets it (transform_output is its deprecated copy)
            serving_model_dir=str(base / "1"),
            model_run_dir=str(tmp_path_factory.mktemp("model_run")),
            train_steps=3,
            data_accessor=data_accessor,
            custom_config={features.FEATURES_KEY: SPEC.to_dict(), features.HPARAMS_KEY: hparams.to_dict()},
        )
    )
    return {"rows": rows, "base": str(base)}


def _signature_inputs(rows: list[dict]) -> dict[str, tf.Tensor]:
    """serving_default's keyword arguments: safe names; NaN or "" for missing."""
    return {
        SAFE[name]: tf.constant([r[name] for r in rows], tf.string)
        if RAW_SPEC[name].dtype == tf.string
        else tf.constant([np.nan if r[name] is None else r[name] for r in rows], tf.float64)
        for name in SPEC.raw_features
    }


def _json_rows(rows: list[dict]) -> list[dict]:
    """The rows as a REST client sends them, under the raw column names (NaN for a missing number)."""
    return [{name: (np.nan if r[name] is None else r[name]) for name in SPEC.raw_features} for r in rows]


def test_transformed_features_and_signature_keys_are_safe_names_and_the_signatures_agree(exported):
    export_dir = os.path.join(exported["base"], "1")
    loaded = tf.saved_model.load(export_dir)
    serving = loaded.signatures[signatures.SERVING_SIGNATURE]
    assert set(serving.structured_input_signature[1]) == set(SAFE.values())

    rows = exported["rows"][:40]
    from_kwargs = serving(**_signature_inputs(rows))[signatures.SCORE_OUTPUT].numpy()
    examples = {"examples": tf.constant([exporter.row_to_example(r, RAW_SPEC) for r in rows])}  # raw names
    from_examples = loaded.signatures[signatures.EXAMPLES_SIGNATURE](**examples)[signatures.SCORE_OUTPUT].numpy()
    np.testing.assert_allclose(from_kwargs, from_examples, rtol=0, atol=1e-6)
    assert len(set(from_kwargs.tolist())) > 10
    transformed = loaded.signatures[signatures.TRANSFORM_SIGNATURE](**examples)
    assert set(transformed) == {
        "mean_radius_z", "c_2023_z", "mean_radius_bucket", "c_2023_bucket", "na_ve_bucket", "flc_grp_id",
        "Sex__M_F__id", "malignant",
    }  # fmt: skip
    assert transformed["malignant"].numpy().tolist() == [int(r["diagnosis (B/M)"] == "M") for r in rows]

    (record, _) = tf.data.TFRecordDataset(os.path.join(export_dir, exporter.WARMUP_FILE)).as_numpy_iterator()
    request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
    assert set(request.inputs) == set(SAFE.values())


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    """The built-in server on loopback serving the exported model (its warmup request replayed at load)."""
    log = str(tmp_path_factory.mktemp("server") / "server.log")
    process = builtin_server(
        f"--model_name={MODEL}", f"--model_base_path={exported['base']}", log_path=log, ready_models=(MODEL,)
    ).start()
    yield process
    assert process.stop() == 0, process.output()


def _post(server, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://{server.rest}/v1/models/{MODEL}:predict", data=json.dumps(body, allow_nan=True).encode()
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_takes_raw_names_over_rest_and_grpc_and_lists_safe_names(exported, server, tmp_path):
    rows = exported["rows"][:20]
    in_process = (
        tf.saved_model.load(os.path.join(exported["base"], "1"))
        .signatures[signatures.SERVING_SIGNATURE](**_signature_inputs(rows))[signatures.SCORE_OUTPUT]
        .numpy()
    )
    with urllib.request.urlopen(f"http://{server.rest}/v1/models/{MODEL}/metadata", timeout=30) as reply:
        metadata = json.loads(reply.read())["metadata"]["signature_def"]["signature_def"]
    assert set(metadata[signatures.SERVING_SIGNATURE]["inputs"]) == set(SAFE.values())

    status, reply = _post(server, {"instances": _json_rows(rows)})
    assert status == 200, reply
    np.testing.assert_allclose(reply["predictions"], in_process, rtol=0, atol=1e-6)
    columns = {name: [r[name] for r in _json_rows(rows)] for name in SPEC.raw_features}
    status, reply = _post(server, {"inputs": columns})
    assert status == 200, reply
    np.testing.assert_allclose(reply["outputs"], in_process, rtol=0, atol=1e-6)
    status, reply = _post(server, {"instances": [{**_json_rows(rows)[0], "flc_grp": "a"}]})
    assert status == 400
    assert "keys 'flc.grp' and 'flc_grp' both name the input 'flc_grp'" in reply["error"]

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    for name, values in columns.items():
        dtype = tf.string if RAW_SPEC[name].dtype == tf.string else tf.float64
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
    with grpc.insecure_channel(server.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        over_grpc = tf.make_ndarray(stub.Predict(request, timeout=30).outputs[signatures.SCORE_OUTPUT])
        np.testing.assert_allclose(over_grpc, in_process, rtol=0, atol=1e-6)
        request.inputs["mean_radius"].CopyFrom(request.inputs["mean radius"])
        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "keys 'mean radius' and 'mean_radius' both name the input 'mean_radius'" in refused.value.details()

    # kfx predict on a CSV with the raw header (and the label column, ignored).
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(RAW_SPEC))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    result = run_kfx("predict", "--csv", str(path), "--address", server.rest, "--model", MODEL)
    assert result.returncode == 0, result.stderr
    scored = [float(row["score"]) for row in csv.DictReader(io.StringIO(result.stdout))]
    np.testing.assert_allclose(scored, in_process, rtol=0, atol=1e-6)
