"""WindowExampleGen: CsvExampleGen over the latest N spans, resolved when it runs (locally and on Kubeflow).

TFX's ExampleGen reads one span, and resolves `{SPAN}` in a driver that open-source Kubeflow Pipelines never runs.
This one lists the `span-<N>/` folders itself, at run time: the window is the newest span (or `span`) and the
`window - 1` before it. Its rows are split by hash into the configured splits (train/eval: evaluation on held-out
rows of the same spans), and the newest and the previous span are also written as the splits `newest_span` and
`previous_span`, which DistributionValidator compares.
"""

from tfx import v1 as tfx
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components.window_example_gen import executor


class WindowExampleGen(FileBasedExampleGen):
    """Examples of the window's spans; splits = the output config's + newest_span + previous_span."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str,
        data_path: str,
        window: int,
        output_config: tfx.proto.Output,
        span: int | None = None,
        input_pattern: str = "span-*/*.csv",
    ):
        """`data_path` is the folder of spans (or of CSV files, or one file); `input_base`/`input_pattern` only
        tell TFX's local driver which files to fingerprint for caching."""
        super().__init__(
            input_base=input_base,
            input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="all", pattern=input_pattern)]),
            output_config=output_config,
            custom_config=executor.custom_config(
                {executor.DATA_PATH_KEY: data_path, executor.WINDOW_KEY: window, executor.SPAN_KEY: span}
            ),
        )
