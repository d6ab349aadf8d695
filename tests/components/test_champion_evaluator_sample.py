"""The Evaluator's hash sample of the eval rows (`evaluation.max_rows`): which rows it keeps, that both models are
scored on exactly those rows in a real Evaluator run, and what the blessing records.

The two "models" are small SavedModels scoring one feature of the examples, so the expected paired AUC on the
expected rows can be computed here and compared with what TFX's Evaluator and the AUCComparison metric recorded.
"""

import hashlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from components.champion_evaluator import auc_comparison, delong, executor, properties, sampling
from components.serving_baseline import executor as baseline_executor

ROWS = 600


def _rows() -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """One feature `x`, a label that depends on it, and the rows as serialized tf.Examples."""
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=ROWS), 4)
    labels = (x + rng.normal(size=ROWS) > 0).astype(float)
    records = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=[value])),
                    "label": tf.train.Feature(float_list=tf.train.FloatList(value=[label])),
                }
            )
        ).SerializeToString(deterministic=True)  # the same bytes on every call
        for value, label in zip(x, labels, strict=True)
    ]
    return x.astype(np.float32), labels, records


def _examples(folder: str, records: list[bytes]) -> standard_artifacts.Examples:
    """An Examples artifact as ExampleGen writes it: one gzipped TFRecord file in Split-eval."""
    artifact = standard_artifacts.Examples()
    artifact.uri = folder
    artifact.split_names = artifact_utils.encode_split_names(["eval"])
    examples_utils.set_payload_format(artifact, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    os.makedirs(os.path.join(folder, "Split-eval"))
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(folder, "Split-eval", "data_tfrecord-00000-of-00001.gz"), options) as w:
        for record in records:
            w.write(record)
    return artifact


def _score(x: np.ndarray, wobble: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x + wobble * np.sin(5 * x))))


def _model(folder: str, wobble: float) -> standard_artifacts.Model:
    """A SavedModel whose "from_examples" signature scores sigmoid(x + wobble * sin(5x)) of serialized examples."""

    class Scorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def from_examples(self, examples):
            x = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"][:, 0]
            return {"score": tf.sigmoid(x + wobble * tf.sin(5 * x))}

    scorer = Scorer()
    artifact = standard_artifacts.Model()
    artifact.uri = folder
    tf.saved_model.save(
        scorer, os.path.join(folder, "Format-Serving"), signatures={"from_examples": scorer.from_examples}
    )
    return artifact


def _expected_rows(records: list[bytes], max_rows: int) -> list[int]:
    """The positions of the rows with the `max_rows` smallest BLAKE2b-64 hashes, by the definition."""
    hashes = [int.from_bytes(hashlib.blake2b(r, digest_size=8).digest(), "big") for r in records]
    return sorted(sorted(range(len(records)), key=lambda i: (hashes[i], i))[:max_rows])


def _read(artifact: standard_artifacts.Examples) -> list[bytes]:
    split = artifact_utils.get_split_uri([artifact], "eval")
    return list(sampling._records(sampling.split_files(split)))


def test_the_sample_is_the_rows_with_the_smallest_hashes_in_order_the_same_every_time(tmp_path):
    _, _, records = _rows()
    examples = [_examples(str(tmp_path / "examples"), records)]
    first, sample = executor.sample_examples(examples, ["eval"], 100, str(tmp_path / "a"))
    again, _ = executor.sample_examples(examples, ["eval"], 100, str(tmp_path / "b"))
    assert (sample.evaluated, sample.total, sample.method) == (100, ROWS, sampling.HASH_SAMPLE)
    assert _read(first[0]) == [records[i] for i in _expected_rows(records, 100)] == _read(again[0])
    assert set(_read(first[0])) <= set(
        _read(executor.sample_examples(examples, ["eval"], 300, str(tmp_path / "c"))[0][0])
    )


@pytest.mark.parametrize("max_rows", [ROWS, ROWS + 1, 0])
def test_no_sample_at_or_below_the_bound_nor_without_one(tmp_path, max_rows):
    _, _, records = _rows()
    examples = [_examples(str(tmp_path / "examples"), records)]
    kept, sample = executor.sample_examples(examples, ["eval"], max_rows, str(tmp_path / "sample"))
    assert kept is examples
    assert (sample.evaluated, sample.total, sample.method) == (ROWS, ROWS, sampling.EVERY_ROW)
    assert not os.path.exists(tmp_path / "sample")


def _evaluate(tmp_path, max_rows: int) -> standard_artifacts.ModelBlessing:
    """A real run of the Evaluator's executor (TFX's Evaluator, TFMA) with a served baseline."""
    _, _, records = _rows()
    baseline = _model(str(tmp_path / "baseline"), wobble=0.6)
    baseline.set_int_custom_property(baseline_executor.HAS_MODEL_PROPERTY, 1)
    baseline.set_int_custom_property(baseline_executor.SERVED_VERSION_PROPERTY, 3)
    baseline.set_string_custom_property(baseline_executor.SERVED_FINGERPRINT_PROPERTY, "served")
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    threshold = tfma.MetricThreshold()
    threshold.value_threshold.lower_bound.value = 0.5
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="from_examples", label_key="label", prediction_key="score")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="AUC", threshold=threshold),
                    tfma.MetricConfig(class_name=auc_comparison.NAME, module=auc_comparison.MODULE),
                ]
            )
        ],
    )
    context = base_beam_executor.BaseBeamExecutor.Context(tmp_dir=str(tmp_path / "tmp"), unique_id="1")
    executor.Executor(context).Do(
        {
            standard_component_specs.EXAMPLES_KEY: [_examples(str(tmp_path / "examples"), records)],
            standard_component_specs.MODEL_KEY: [_model(str(tmp_path / "candidate"), wobble=0.0)],
            standard_component_specs.BASELINE_MODEL_KEY: [baseline],
        },
        {standard_component_specs.EVALUATION_KEY: [evaluation], standard_component_specs.BLESSING_KEY: [blessing]},
        {
            standard_component_specs.EVAL_CONFIG_KEY: json_format.MessageToJson(config),
            standard_component_specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"]),
            properties.COMPARISON_KEY: json.dumps(
                {"policy": "non_inferiority", "margin": 0.01, "confidence": 0.95, "min_slice_size": 30}
            ),
            properties.MAX_ROWS_KEY: max_rows,
        },
    )
    return blessing


@pytest.mark.parametrize("max_rows", [250, 0])
def test_both_models_are_scored_on_the_sampled_rows_and_the_blessing_says_so(tmp_path, max_rows):
    x, labels, records = _rows()
    blessing = _evaluate(tmp_path, max_rows)
    rows = _expected_rows(records, max_rows) if max_rows else list(range(ROWS))
    expected = delong.paired_auc(labels[rows], _score(x[rows], 0.0), _score(x[rows], 0.6))
    with open(os.path.join(blessing.uri, properties.COMPARISON_FILE)) as f:
        record = json.load(f)
    method = sampling.HASH_SAMPLE if max_rows else sampling.EVERY_ROW
    assert record["sample"] == {"evaluated_rows": len(rows), "eval_rows": ROWS, "method": method}
    assert blessing.get_int_custom_property(properties.EVALUATED_ROWS_PROPERTY) == len(rows)
    assert blessing.get_int_custom_property(properties.EVAL_ROWS_PROPERTY) == ROWS
    assert blessing.get_string_custom_property(properties.SAMPLE_PROPERTY) == method
    overall = record["overall"]
    assert (overall["positives"], overall["negatives"]) == (expected.positives, expected.negatives)
    assert overall["difference"] == pytest.approx(expected.difference, abs=1e-6)
    assert overall["std_error"] == pytest.approx(expected.std_error, abs=1e-6)
    assert not os.listdir(tmp_path / "tmp" / "1")  # the sample's copy is gone
