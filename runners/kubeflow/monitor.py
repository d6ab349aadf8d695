"""`kfx monitor` as a one-task KFP v2 pipeline spec, for a recurring run on Kubeflow (`kfx compile-monitor`).

The task runs `python -m kfx.cli monitor` in the pipeline image on the request logs in the bucket, with the MLMD
service that Kubeflow Pipelines records its runs in (the lineage of each answering version is the one the cluster's
runs wrote) and the configuration file inside the image; the reports go to the bucket. Caching is off: KFP's cache
key sees the command, never the log files, so a cached run would repeat an old answer. When the command exits
non-zero (1: skew past a threshold, 2: bad input), the task fails and so does the run: that failed run is the alert.
"""

import dataclasses
import os
import tempfile

from pipeline import config as config_lib
from runners.kubeflow import compile as compile_lib

DEFAULT_OUTPUT = os.path.join("build", "monitor.yaml")
DEFAULT_METADATA_GRPC = compile_lib.DEFAULT_METADATA_GRPC
TASK = "skew-monitor"  # the task's name in the spec (from the component function's name)
COMMAND = ["python", "-m", "kfx.cli", "monitor"]


@dataclasses.dataclass(frozen=True)
class MonitorOptions:
    """What `kfx compile-monitor` was asked; paths are checked by `compile_monitor`."""

    config_path: str
    image: str
    logs: str
    output_dir: str
    output: str = DEFAULT_OUTPUT
    metadata_grpc: str = DEFAULT_METADATA_GRPC
    metadata_path: str | None = None  # an ML Metadata SQLite file instead of the service (testing)
    config_path_in_image: str | None = None  # default: <IMAGE_PROJECT_DIR>/configs/<file name>
    allow_mutable_image: bool = False
    allow_local_paths: bool = False


def compile_monitor(options: MonitorOptions) -> str:
    """Validates the options, writes the spec and returns its path; CompileError or ConfigError on a bad option."""
    compile_lib.check_image(options.image, options.allow_mutable_image)
    if not options.output.endswith((".yaml", ".yml")):
        raise compile_lib.CompileError(f"--output '{options.output}' must end with .yaml or .yml")
    config = config_lib.load(options.config_path)
    image_config = options.config_path_in_image or (
        f"{compile_lib.IMAGE_PROJECT_DIR}/configs/{os.path.basename(options.config_path)}"
    )
    local = options.allow_local_paths
    monitor_argv = [
        "--logs", compile_lib.storage_path("--logs", options.logs, local),
        "--config", image_config,
        "--output-dir", compile_lib.storage_path("--output-dir", options.output_dir, local),
    ]  # fmt: skip
    if options.metadata_path:
        monitor_argv += ["--metadata-path", compile_lib.storage_path("--metadata-path", options.metadata_path, local)]
    else:
        monitor_argv += ["--metadata-grpc", _grpc_address(options.metadata_grpc)]
    output = os.path.abspath(options.output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    write_spec(f"{config.pipeline_name}-skew-monitor", options.image, monitor_argv, output)
    return output


def write_spec(pipeline_name: str, image: str, monitor_argv: list[str], output: str) -> None:
    """Compiles the one-task pipeline with the kfp SDK; written beside `output`, then renamed."""
    import yaml
    from google.protobuf import json_format
    from kfp import compiler, dsl
    from kfp.pipeline_spec import pipeline_spec_pb2

    @dsl.container_component
    def skew_monitor():
        return dsl.ContainerSpec(image=image, command=COMMAND, args=monitor_argv)

    @dsl.pipeline(
        name=pipeline_name,
        description="Training/serving skew of the served versions (kfx monitor); the run fails on skew.",
    )
    def monitor_pipeline():
        skew_monitor().set_caching_options(False)  # every scheduled run reads the logs again

    with tempfile.TemporaryDirectory(dir=os.path.dirname(output)) as staging:
        staged = os.path.join(staging, "monitor.yaml")
        compiler.Compiler().compile(monitor_pipeline, staged)
        with open(staged, encoding="utf-8") as f:
            json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())  # a valid PipelineSpec
        os.replace(staged, output)


def _grpc_address(address: str) -> str:
    from monitoring import store

    try:
        store.grpc_address(address)
    except store.MetadataUnavailable as error:
        raise compile_lib.CompileError(f"--metadata-grpc: {error}") from None
    return address
