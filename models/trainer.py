"""The Trainer's `run_fn`: reads the raw examples through the tf.Transform graph, fits the model with early
stopping, exports it."""

import math

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

# TFX's classes from their modules: `from tfx import v1` would import every component and extension (~14 s).
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from models import exporter, features, preprocessing
from models import model as model_lib
from models.hparams import HParams, tuned_values

# A Tuner trial is scored on every 5th block of the train split's rows (20 %) and trained on the rest.
TUNING_HELD_OUT_EVERY = 5
TUNING_SHUFFLE_ROWS = 10_000


def run_fn(fn_args: FnArgs) -> None:
    """Trains for at most `fn_args.train_steps` steps, keeping the weights with the best eval AUC.

    TensorBoard logs go to `fn_args.model_run_dir`; the SavedModel to `fn_args.serving_model_dir`.
    """
    spec = features.FeatureConfig.from_dict(fn_args.custom_config[features.FEATURES_KEY])
    hparams = HParams.from_dict(fn_args.custom_config[features.HPARAMS_KEY])
    if fn_args.hyperparameters:  # the Tuner's best (or, when not re-tuning, the last search's best)
        tuned = tuned_values(fn_args.hyperparameters)
        hparams = hparams.overlay(tuned)
        logging.info("Training with the tuned hyperparameters %s", tuned)
    keras.utils.set_random_seed(hparams.seed)

    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_dataset, eval_dataset = datasets(fn_args, tf_transform_output, spec, hparams)
    model = model_lib.build_model(spec, vocabulary_size(tf_transform_output, spec), hparams)
    model.summary(print_fn=logging.info)

    steps_per_epoch, evaluations = evaluation_epochs(hparams, fn_args.train_steps)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
        early_stopping(hparams),
    ]
    model.fit(
        train_dataset,
        epochs=evaluations,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_dataset,
        callbacks=callbacks,
        verbose=2,
    )
    exporter.export_serving_model(model, tf_transform_output, spec, fn_args.serving_model_dir)


def datasets(
    fn_args: FnArgs,
    tf_transform_output: tft.TFTransformOutput,
    spec: features.FeatureConfig,
    hparams: HParams,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The training batches (shuffled, repeated) and the validation batches checked at each evaluation."""
    train_dataset = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, spec, hparams, True)
    eval_dataset = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, spec, hparams, False)
    # Each check scores at most `validation_rows` rows, so its cost stays flat as the data grows; they are
    # transformed once and kept in memory for the later checks.
    return train_dataset, eval_dataset.take(math.ceil(hparams.validation_rows / hparams.batch_size)).cache()


def vocabulary_size(tf_transform_output: tft.TFTransformOutput, spec: features.FeatureConfig) -> int:
    """Size of the shared categorical vocabulary, +1 for the out-of-vocabulary bucket (0: no categorical feature)."""
    if not spec.categorical:
        return 0
    return tf_transform_output.vocabulary_size_by_name(preprocessing.VOCABULARY_NAME) + 1


def evaluation_epochs(hparams: HParams, train_steps: int) -> tuple[int, int]:
    """(steps per epoch, epochs): an evaluation every `steps_per_evaluation` steps, never past `train_steps` (fewer
    steps: one evaluation)."""
    steps_per_epoch = min(hparams.steps_per_evaluation, train_steps)
    return steps_per_epoch, train_steps // steps_per_epoch


def early_stopping(hparams: HParams) -> keras.callbacks.Callback:
    """Stops once the eval AUC has not improved for `early_stopping_patience` evaluations; keeps the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=hparams.early_stopping_patience, restore_best_weights=True
    )


def tuning_datasets(
    fn_args: FnArgs,
    tf_transform_output: tft.TFTransformOutput,
    spec: features.FeatureConfig,
    hparams: HParams,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """A Tuner trial's training batches and the batches that score it, both from the train split: every
    TUNING_HELD_OUT_EVERY-th block of `batch_size` rows in file order is held out to score the trial, the other rows
    (shuffled, repeated) train it. The eval split, on which the Evaluator then judges the trained model against the
    served one, never chooses the hyperparameters, so its AUC stays an unbiased estimate."""
    options = tfxio.TensorFlowDatasetOptions(batch_size=hparams.batch_size, shuffle=False, num_epochs=1)
    schema = tf_transform_output.raw_metadata.schema
    blocks = fn_args.data_accessor.tf_dataset_factory(fn_args.train_files, options, schema).enumerate()
    held_out = blocks.filter(lambda index, _: tf.equal(index % TUNING_HELD_OUT_EVERY, 0)).map(lambda _, rows: rows)
    kept = blocks.filter(lambda index, _: tf.not_equal(index % TUNING_HELD_OUT_EVERY, 0)).map(lambda _, rows: rows)
    kept = kept.unbatch().shuffle(TUNING_SHUFFLE_ROWS, seed=hparams.seed).repeat().batch(hparams.batch_size)
    scoring = held_out.take(math.ceil(hparams.validation_rows / hparams.batch_size))
    return _model_inputs(kept, tf_transform_output, spec), _model_inputs(scoring, tf_transform_output, spec).cache()


def _dataset(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    spec: features.FeatureConfig,
    hparams: HParams,
    training: bool,
) -> tf.data.Dataset:
    """Batches of (model inputs, label) from the raw examples through the tf.Transform graph (the label is one of
    its outputs): shuffled and repeated for training, one ordered pass for eval."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=hparams.batch_size, shuffle=training, shuffle_seed=hparams.seed, num_epochs=None if training else 1
    )
    dataset = data_accessor.tf_dataset_factory(file_pattern, options, tf_transform_output.raw_metadata.schema)
    return _model_inputs(dataset, tf_transform_output, spec)


def _model_inputs(
    dataset: tf.data.Dataset, tf_transform_output: tft.TFTransformOutput, spec: features.FeatureConfig
) -> tf.data.Dataset:
    """Batches of raw features -> (model inputs, label) through the tf.Transform graph."""
    transform = tf_transform_output.transform_features_layer()

    def inputs_and_label(raw: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        transformed = transform(raw)
        return model_lib.select_model_inputs(transformed, spec), transformed[spec.label.name]

    return dataset.map(inputs_and_label, num_parallel_calls=tf.data.AUTOTUNE)
