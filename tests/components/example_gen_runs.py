"""Runs the real WindowExampleGen executor (Beam DirectRunner) on a folder of spans, and reads what it wrote."""

import os

import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.window_example_gen import executor, rows


def run_executor(
    data_root: str,
    output_dir: str,
    window: int,
    rules: rows.Rules,
    span: int | None = None,
    excluded: tuple[int, ...] = (),
    reference: int | None = None,
) -> standard_artifacts.Examples:
    """Examples of the window (train/eval split 4:1 by hash, plus the drift splits), as the pipeline creates them;
    `excluded` and `reference` as the drift verdicts of earlier runs would set them."""
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
            ]
        )
    )
    settings = {
        executor.DATA_PATH_KEY: data_root,
        executor.WINDOW_KEY: window,
        executor.SPAN_KEY: span,
        executor.EXCLUDED_KEY: list(excluded),
        executor.REFERENCE_KEY: reference,
    }
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: data_root,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="span-*/*.csv")])
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(executor.custom_config(settings)),
        executor.RULES_KEY: rules.to_json(),
    }
    executor.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties)
    return examples


def serialized(examples: standard_artifacts.Examples, split: str) -> list[bytes]:
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*.gz")
    return list(tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP").as_numpy_iterator())


def records(examples: standard_artifacts.Examples, split: str) -> list[tf.train.Example]:
    return [tf.train.Example.FromString(record) for record in serialized(examples, split)]
