"""The Keras network: z-scored numerics plus embeddings of quantile buckets and vocabulary ids, then a DNN.

The piecewise view of numerics (bucket embeddings) is what lifts a DNN to tree-model AUC on the taxi data.
"""

import keras
import tensorflow as tf

from models import features
from models.hparams import HParams


def build_model(spec: features.FeatureConfig, vocabulary_size: int, hparams: HParams) -> keras.Model:
    """Builds and compiles the binary classifier.

    Args:
      spec: feature groups; one model input per transformed feature.
      vocabulary_size: size of the shared categorical vocabulary, out-of-vocabulary bucket included. Its tokens
        are `column=value`, so one embedding table holds a separate vector per column and value.
      hparams: layer sizes, dropout, embedding sizes and learning rate.
    """
    inputs: dict[str, keras.KerasTensor] = {}
    parts = []
    for column in spec.numeric:
        name = features.z_score_name(column)
        inputs[name] = keras.Input(shape=(), name=name, dtype="float32")
        parts.append(keras.layers.Reshape((1,), name=f"{name}_2d")(inputs[name]))
    for column in spec.numeric + spec.bucketized:
        name = features.bucket_name(column)
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        # One extra id for "missing".
        embedding = keras.layers.Embedding(spec.num_buckets + 1, hparams.bucket_embedding_dim, name=f"{name}_emb")
        parts.append(embedding(inputs[name]))
    if spec.categorical:
        embedding = keras.layers.Embedding(vocabulary_size, hparams.embedding_dim, name="categorical_emb")
    for column in spec.categorical:
        name = features.vocabulary_id_name(column)
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        parts.append(embedding(inputs[name]))

    hidden = keras.layers.Concatenate(name="all_features")(parts)
    for index, units in enumerate(hparams.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu", name=f"dense_{index}")(hidden)
        hidden = keras.layers.Dropout(hparams.dropout, seed=hparams.seed + index, name=f"dropout_{index}")(hidden)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(hidden)

    model = keras.Model(inputs=inputs, outputs=probability, name="binary_classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def model_input_names(spec: features.FeatureConfig) -> list[str]:
    """Names of the transformed features the model consumes, in input order."""
    return (
        [features.z_score_name(c) for c in spec.numeric]
        + [features.bucket_name(c) for c in spec.numeric + spec.bucketized]
        + [features.vocabulary_id_name(c) for c in spec.categorical]
    )


def select_model_inputs(transformed: dict[str, tf.Tensor], spec: features.FeatureConfig) -> dict[str, tf.Tensor]:
    """Keeps only the model's inputs from a dict of transformed features (drops the label and extras)."""
    return {name: transformed[name] for name in model_input_names(spec)}
