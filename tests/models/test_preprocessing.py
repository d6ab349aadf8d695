"""preprocessing_fn run through tf.Transform (Beam) on a few rows, compared with values worked out by hand."""

import dataclasses
import functools
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import features, preprocessing

SPEC = features.FeatureConfig(
    label=features.LabelRule(name="big_tipper", column="tips", greater_than=0.2, times="fare"),
    numeric=("fare",),
    bucketized=("lat",),
    categorical=("company", "hour"),
    num_buckets=2,
)
FEATURE_SPEC = {
    "fare": tf.io.FixedLenFeature([], tf.float32),
    "tips": tf.io.FixedLenFeature([], tf.float32),
    "lat": tf.io.VarLenFeature(tf.float32),
    "company": tf.io.VarLenFeature(tf.string),
    "hour": tf.io.FixedLenFeature([], tf.int64),
}
ROWS = [
    {"fare": 10.0, "tips": 3.0, "lat": [41.1], "company": [b"A"], "hour": 1},
    {"fare": 20.0, "tips": 1.0, "lat": [], "company": [], "hour": 2},
    {"fare": 30.0, "tips": 0.0, "lat": [41.9], "company": [b"A"], "hour": 1},
    {"fare": 40.0, "tips": 9.0, "lat": [42.0], "company": [b"B"], "hour": 17031081500},
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(FEATURE_SPEC))
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config={features.FEATURES_KEY: SPEC.to_dict()})
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (rows, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
    return rows, transform_fn


def test_label_is_tips_above_a_fifth_of_the_fare(transformed):
    rows, _ = transformed
    assert [r["big_tipper"] for r in rows] == [1, 0, 0, 1]


def test_numeric_columns_are_z_scored(transformed):
    rows, _ = transformed
    fares = np.array([10.0, 20.0, 30.0, 40.0])
    expected = (fares - fares.mean()) / fares.std()
    np.testing.assert_allclose([r["fare_z"] for r in rows], expected, rtol=1e-5)


def test_buckets_split_at_the_median_and_missing_values_get_their_own_bucket(transformed):
    rows, _ = transformed
    assert [r["fare_bucket"] for r in rows] == [0, 0, 1, 1]
    # lat has 3 present values; with 2 buckets the boundary is their median; missing -> bucket 2.
    assert [r["lat_bucket"] for r in rows] == [0, 2, 1, 1]


def test_categoricals_share_one_vocabulary_and_missing_is_its_own_token(transformed):
    rows, transform_fn = transformed
    company_ids = [r["company_id"] for r in rows]
    hour_ids = [r["hour_id"] for r in rows]
    assert company_ids[0] == company_ids[2] != company_ids[1] != company_ids[3]
    assert hour_ids[0] == hour_ids[2] and len(set(hour_ids)) == 3
    # Ids of different columns never collide: tokens are `column=value`.
    assert not set(company_ids) & set(hour_ids)
    transform_savedmodel_dir, _ = transform_fn  # a one-element list of the SavedModel path
    with open(f"{transform_savedmodel_dir[0]}/assets/{preprocessing.VOCABULARY_NAME}") as f:
        vocabulary = f.read().split()
    assert f"company={features.MISSING_TOKEN}" in vocabulary
    # A large integer category keeps every digit (no float rounding).
    assert "hour=17031081500" in vocabulary


def test_categorical_label_rule(tmp_path):
    spec = features.FeatureConfig(
        label=features.LabelRule(name="churned", column="status", one_of=("gone", "left")), numeric=("x",)
    )
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {"x": tf.io.FixedLenFeature([], tf.float32), "status": tf.io.FixedLenFeature([], tf.string)}
        )
    )
    rows = [{"x": 1.0, "status": b"gone"}, {"x": 2.0, "status": b"stayed"}, {"x": float("nan"), "status": b"left"}]
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config={features.FEATURES_KEY: spec.to_dict()})
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (out, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
    assert [r["churned"] for r in out] == [1, 0, 1]
    # NaN counts as missing: z-score 0, and the mean/variance come from the present values only.
    assert out[2]["x_z"] == 0.0 and math.isclose(out[0]["x_z"], -1.0, rel_tol=1e-5)


# Case and space variants, a non-ASCII capital, non-ASCII spaces (kept: tf.strings.strip removes ASCII only), others.
SEX = ["MALE", "Male", " male ", "male\t", "\u00a0male", "MÂLE", "mâle", "FEMALE", "female", ".", "unknown"]


@pytest.mark.parametrize("fold_case", [False, True])
def test_a_categorical_label_in_the_graph_is_the_row_readers(fold_case):
    """What the Evaluator's transform_features computes is what WindowExampleGen kept the row as."""
    from components.window_example_gen import rows

    rule = features.LabelRule(name="male", column="sex", one_of=("MALE", "MÂLE"), fold_case=fold_case)
    graph = preprocessing._label({"sex": tf.constant(SEX)}, rule).numpy().tolist()
    reader = rows.Rules(label=rows.Label(**dataclasses.asdict(rule))).labels(["sex"], [(1, [sex]) for sex in SEX])
    assert graph == [int(label) for label in reader]
    expected = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0] if fold_case else [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert graph == expected
