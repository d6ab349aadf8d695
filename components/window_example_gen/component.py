"""WindowExampleGen: CsvExampleGen over the latest N spans, resolved when it runs (locally and on Kubeflow).

TFX's ExampleGen reads one span, and resolves `{SPAN}` in a driver that open-source Kubeflow Pipelines never runs.
This one lists the `span-<N>/` folders itself, at run time: the window is the newest span (or `span`) and the
`window - 1` before it. Its rows are split by hash into the configured splits (train/eval: evaluation on held-out
rows of the same spans), and, when there is an earlier span to compare with, the newest and the previous span are
also splits, `newest_span` and `previous_span`, which DistributionValidator compares (links to the window's files
when the span is in the window; a single span has no drift splits). Its `rules` (rows.Rules: missing-value tokens,
numeric columns, the label and its limits) say how rows are read and when the window cannot train a model.
"""

from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.window_example_gen import executor, rows


class WindowExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's parameters, plus the rules as a parameter of their own: on Kubeflow the task that
    resolves the window replaces `custom_config` (kfx/kfp_window.py)."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.RULES_KEY: ExecutionParameter(type=str),
    }


class WindowExampleGen(FileBasedExampleGen):
    """Examples of the window's spans; splits = the output config's (+ newest_span and previous_span, given an
    earlier span)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str,
        data_path: str,
        window: int,
        output_config: example_gen_pb2.Output,
        rules: rows.Rules,
        span: int | None = None,
        input_pattern: str = "span-*/*.csv",
        excluded: tuple[int, ...] = (),
        reference: int | None = None,
    ):
        """`data_path` is the folder of spans (or of CSV files, or one file); `input_base`/`input_pattern` only
        tell TFX's local driver which files to fingerprint for caching. `excluded`: earlier spans the drift check
        rejected, left out; `reference`: the span the newest is compared with (default: the latest one kept)."""
        spec = WindowExampleGenSpec(
            input_base=input_base,
            input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern=input_pattern)]),
            output_config=output_config,
            custom_config=executor.custom_config(
                {
                    executor.DATA_PATH_KEY: data_path,
                    executor.WINDOW_KEY: window,
                    executor.SPAN_KEY: span,
                    executor.EXCLUDED_KEY: list(excluded),
                    executor.REFERENCE_KEY: reference,
                }
            ),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            rules=rules.to_json(),  # executor.RULES_KEY
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ only builds its own spec, which has no place for the rules.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
