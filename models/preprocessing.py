"""tf.Transform preprocessing: the one graph used for training, evaluation and serving.

Every raw column may arrive dense (required in the schema) or sparse (optional); NaN floats count as missing too.
Missing numerics get a z-score of 0 and a bucket of their own; missing categoricals get the `__missing__` token.
"""

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models import features

_Z_SCORE_CLIP = 5.0
# Name of the shared vocabulary file in the transform graph's assets.
VOCABULARY_NAME = "categorical"


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Maps raw columns to model inputs; adds the label when its raw columns are present (not at serving).

    Columns of a group are analyzed together (one analyzer per group, not per column): on Beam's DirectRunner
    every analyzer adds pipeline stages, and the per-column form was twice as slow on the taxi data.
    """
    spec = features.FeatureConfig.from_dict(custom_config[features.FEATURES_KEY])
    outputs = {}
    if spec.numeric:
        z_scores = _z_scores([_numeric_with_mask(inputs[c]) for c in spec.numeric])
        outputs.update({features.z_score_name(c): z_scores[:, i] for i, c in enumerate(spec.numeric)})
    bucketed = spec.numeric + spec.bucketized
    if bucketed:
        buckets = _bucketize([_numeric_with_mask(inputs[c]) for c in bucketed], spec.num_buckets)
        outputs.update({features.bucket_name(c): buckets[:, i] for i, c in enumerate(bucketed)})
    if spec.categorical:
        ids = _vocabulary_ids(
            [_as_category(inputs[c]) for c in spec.categorical], spec.categorical, spec.max_vocabulary_size
        )
        outputs.update({features.vocabulary_id_name(c): ids[:, i] for i, c in enumerate(spec.categorical)})
    outputs[spec.label.name] = _label(inputs, spec.label)
    return outputs


def dense_with_mask(tensor: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns a rank-1 tensor of the same dtype and a boolean mask of the values actually present."""
    if isinstance(tensor, tf.SparseTensor):
        shape = tf.stack([tensor.dense_shape[0], 1])
        default = "" if tensor.dtype == tf.string else 0
        dense = tf.sparse.to_dense(tf.SparseTensor(tensor.indices, tensor.values, shape), default)[:, 0]
        mask_values = tf.ones_like(tensor.values, dtype=tf.bool)
        present = tf.sparse.to_dense(tf.SparseTensor(tensor.indices, mask_values, shape), False)[:, 0]
    else:
        dense = tf.reshape(tensor, [-1])
        present = tf.ones_like(dense, dtype=tf.bool)
    if dense.dtype.is_floating:
        present = tf.logical_and(present, tf.logical_not(tf.math.is_nan(dense)))
        dense = tf.where(present, dense, tf.zeros_like(dense))
    return dense, present


def _numeric_with_mask(tensor: Any) -> tuple[tf.Tensor, tf.Tensor]:
    value, present = dense_with_mask(tensor)
    return tf.cast(value, tf.float32), present


def _z_scores(columns: list[tuple[tf.Tensor, tf.Tensor]]) -> tf.Tensor:
    """[batch, columns] z-scores clipped to +-5, from the mean and variance of the present values; 0 if missing."""
    values = tf.stack([value for value, _ in columns], axis=1)
    present = tf.stack([mask for _, mask in columns], axis=1)
    indices = tf.where(present)
    observed = tf.SparseTensor(indices, tf.gather_nd(values, indices), tf.shape(values, out_type=tf.int64))
    mean = tft.mean(observed, reduce_instance_dims=False)
    variance = tft.var(observed, reduce_instance_dims=False)
    scaled = tf.math.divide_no_nan(values - mean, tf.sqrt(variance))
    return tf.where(present, tf.clip_by_value(scaled, -_Z_SCORE_CLIP, _Z_SCORE_CLIP), 0.0)


def _bucketize(columns: list[tuple[tf.Tensor, tf.Tensor]], num_buckets: int) -> tf.Tensor:
    """[batch, columns] quantile bucket ids in [0, num_buckets); missing values get bucket `num_buckets`."""
    present = tf.stack([mask for _, mask in columns], axis=1)
    # NaN marks missing values: the quantiles analyzer skips them.
    values = tf.where(present, tf.stack([value for value, _ in columns], axis=1), float("nan"))
    boundaries = tft.quantiles(values, num_buckets, epsilon=0.01 / num_buckets, reduce_instance_dims=False)
    buckets = tf.stack([tft.apply_buckets(values[:, i], boundaries[i : i + 1]) for i in range(len(columns))], axis=1)
    return tf.where(present, buckets, tf.constant(num_buckets, tf.int64))


def _vocabulary_ids(categories: list[tf.Tensor], names: tuple[str, ...], max_size: int) -> tf.Tensor:
    """[batch, columns] ids in one vocabulary of `column=value` tokens, so one analyzer serves every column."""
    tokens = tf.stack(
        [tf.strings.join([f"{name}=", value]) for name, value in zip(names, categories, strict=True)], axis=1
    )
    vocabulary = tft.vocabulary(tokens, top_k=max_size, vocab_filename=VOCABULARY_NAME)
    return tft.apply_vocabulary(tokens, vocabulary, num_oov_buckets=1)


def _as_category(tensor: Any) -> tf.Tensor:
    value, present = dense_with_mask(tensor)
    if value.dtype.is_floating:
        value = tf.strings.as_string(value, shortest=True)
    elif value.dtype != tf.string:
        value = tf.strings.as_string(value)
    present = tf.logical_and(present, tf.not_equal(value, ""))
    return tf.where(present, value, features.MISSING_TOKEN)


def _label(inputs: dict[str, Any], rule: features.LabelRule) -> tf.Tensor:
    """1 for a positive row, else 0 (the rows ExampleGen keeps are positive or negative: label.negative and
    label.other only decide which rows are kept)."""
    if rule.greater_than is not None:
        value, present = _numeric_with_mask(inputs[rule.column])
        threshold = tf.constant(rule.greater_than, tf.float32)
        if rule.times:
            threshold = threshold * _numeric_with_mask(inputs[rule.times])[0]
        positive = tf.logical_and(present, value > threshold)
    else:
        category, one_of = _as_category(inputs[rule.column]), rule.one_of
        if rule.fold_case:  # as features.LabelRule.fold, which the row reader applies too
            category = tf.strings.strip(tf.strings.lower(category, encoding="utf-8"))
            one_of = tuple(features.LabelRule.fold(value) for value in one_of)
        positive = tf.reduce_any(tf.equal(category[:, None], tf.constant(one_of)[None, :]), axis=1)
    return tf.cast(positive, tf.int64)
