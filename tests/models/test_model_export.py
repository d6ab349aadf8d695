"""The Keras model trains, is deterministic, and its exported SavedModel serves three agreeing signatures.

A real tf.Transform graph is built from the first rows of the taxi CSV, so the signatures are exercised with
the curated schema's dense and optional (sparse) columns, including missing values.
"""

import csv
import functools
import itertools
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from models import exporter, features, preprocessing, signatures
from models import model as model_lib

ROWS = 400


def _typed(value: str, spec):
    if value == "":
        return None
    return value.encode() if spec.dtype == tf.string else (int(value) if spec.dtype == tf.int64 else float(value))


@pytest.fixture(scope="module")
def raw_rows(taxi_config, taxi_csv):
    """First rows of the taxi CSV as dicts of Python values (None for empty cells)."""
    schema = tfdv.load_schema_text(taxi_config.data.schema)
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    with open(taxi_csv, newline="") as f:
        rows = [{k: _typed(v, spec[k]) for k, v in row.items()} for row in itertools.islice(csv.DictReader(f), ROWS)]
    return rows, spec, schema


@pytest.fixture(scope="module")
def transform_output(raw_rows, taxi_config, tmp_path_factory):
    rows, spec, schema = raw_rows
    # Instance dicts hold a list per column: one value for required columns (shape [1]), none when missing.
    instances = [{k: [] if v is None else [v] for k, v in r.items()} for r in rows]
    fn = functools.partial(
        preprocessing.preprocessing_fn, custom_config={features.FEATURES_KEY: taxi_config.features.to_dict()}
    )
    output_dir = str(tmp_path_factory.mktemp("transform_output"))
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft_tmp"))):
        (transformed, _), transform_fn = (instances, dataset_metadata.DatasetMetadata(schema)) | (
            tft_beam.AnalyzeAndTransformDataset(fn)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    # Transform also records the raw schema; the exporter reads the raw feature spec from it.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return tft.TFTransformOutput(output_dir), transformed


def _train(taxi_config, tf_transform_output, transformed, steps):
    hparams = taxi_config.training.hparams
    keras.utils.set_random_seed(hparams.seed)
    vocabulary_size = tf_transform_output.vocabulary_size_by_name(preprocessing.VOCABULARY_NAME) + 1
    model = model_lib.build_model(taxi_config.features, vocabulary_size, hparams)
    names = model_lib.model_input_names(taxi_config.features)
    inputs = {n: np.array([r[n] for r in transformed]) for n in names}
    labels = np.array([r[taxi_config.features.label.name] for r in transformed])
    history = model.fit(inputs, labels, batch_size=64, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return model, history, inputs


def test_model_trains_a_step(taxi_config, transform_output):
    tf_transform_output, transformed = transform_output
    model, history, _ = _train(taxi_config, tf_transform_output, transformed, steps=1)
    assert math.isfinite(history.history["loss"][0])
    assert set(model_lib.model_input_names(taxi_config.features)) == {t.name.split(":")[0] for t in model.inputs}


def test_training_is_deterministic_given_the_seed(taxi_config, transform_output):
    tf_transform_output, transformed = transform_output
    first, _, inputs = _train(taxi_config, tf_transform_output, transformed, steps=5)
    second, _, _ = _train(taxi_config, tf_transform_output, transformed, steps=5)
    np.testing.assert_array_equal(first.predict(inputs, verbose=0), second.predict(inputs, verbose=0))


@pytest.fixture(scope="module")
def exported(taxi_config, transform_output, tmp_path_factory):
    tf_transform_output, transformed = transform_output
    model, _, _ = _train(taxi_config, tf_transform_output, transformed, steps=5)
    export_dir = str(tmp_path_factory.mktemp("model") / "1")
    exporter.export_serving_model(model, tf_transform_output, taxi_config.features, export_dir)
    return export_dir, tf.saved_model.load(export_dir)


def _request(rows, raw_spec):
    """serving_default inputs: numbers as float64 with NaN for missing, strings with "" for missing."""
    request = {}
    for name, spec in raw_spec.items():
        if spec.dtype == tf.string:
            request[name] = tf.constant([(r[name] or b"").decode() for r in rows])
        else:
            request[name] = tf.constant([np.nan if r[name] is None else r[name] for r in rows], tf.float64)
    return request


def test_exported_model_has_the_three_signatures(exported):
    _, loaded = exported
    names = {signatures.SERVING_SIGNATURE, signatures.EXAMPLES_SIGNATURE, signatures.TRANSFORM_SIGNATURE}
    # The names README's table and TF Serving clients use.
    assert set(loaded.signatures) == names == {"serving_default", "from_examples", "transform_features"}
    serving = loaded.signatures[signatures.SERVING_SIGNATURE]
    assert {k for k in serving.structured_input_signature[1]} == {
        "fare", "trip_miles", "trip_seconds", "pickup_latitude", "pickup_longitude", "dropoff_latitude",
        "dropoff_longitude", "payment_type", "company", "trip_start_hour", "trip_start_day", "trip_start_month",
        "pickup_community_area", "dropoff_community_area",
    }  # fmt: skip
    assert "tips" not in serving.structured_input_signature[1]


def test_prediction_signatures_agree_row_for_row(exported, raw_rows, taxi_config):
    _, loaded = exported
    rows, spec, _ = raw_rows
    rows = rows[:50]
    assert any(r["company"] is None for r in rows) and any(r["dropoff_latitude"] is None for r in rows)
    model_spec = {name: spec[name] for name in taxi_config.features.raw_features}
    score = signatures.SCORE_OUTPUT
    from_json = loaded.signatures[signatures.SERVING_SIGNATURE](**_request(rows, model_spec))[score].numpy()
    decoded = [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in r.items()} for r in rows]
    examples = {signatures.EXAMPLES_INPUT: tf.constant([exporter.row_to_example(r, spec) for r in decoded])}
    from_examples = loaded.signatures[signatures.EXAMPLES_SIGNATURE](**examples)[score].numpy()
    assert from_json.shape == (50,)
    np.testing.assert_allclose(from_json, from_examples, rtol=0, atol=1e-6)
    assert np.all((from_json > 0) & (from_json < 1))
    transformed = loaded.signatures[signatures.TRANSFORM_SIGNATURE](**examples)
    expected_labels = [int(r["tips"] > 0.2 * r["fare"]) for r in rows]
    assert transformed[taxi_config.features.label.name].numpy().tolist() == expected_labels


def test_warmup_requests_replay_against_the_signatures(exported):
    export_dir, loaded = exported
    records = list(tf.data.TFRecordDataset(f"{export_dir}/{exporter.WARMUP_FILE}").as_numpy_iterator())
    assert len(records) == 2
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        signature = loaded.signatures[request.model_spec.signature_name]
        inputs = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
        score = signature(**{k: tf.constant(v) for k, v in inputs.items()})[signatures.SCORE_OUTPUT].numpy()
        assert score.shape == (1,) and np.isfinite(score).all()
