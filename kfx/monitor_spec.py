"""`kfx compile-monitor`: `kfx monitor` as a one-task KFP v2 pipeline spec, for a recurring run on Kubeflow.

The task runs `python -m kfx.cli monitor` in the pipeline image on the request logs in the bucket, with the MLMD
service that Kubeflow Pipelines records its runs in (the lineage of each answering version is the one the cluster's
runs wrote) and the configuration file inside the image; the reports go to the bucket. Caching is off: KFP's cache
key sees the command, never the log files, so a cached run would repeat an old answer. When the command exits
non-zero (1: skew past a threshold, 2: bad input), the task fails and so does the run: that failed run is the alert.
"""

import argparse
import os
import sys
import tempfile

from kfx import compile as compile_cmd
from kfx.defaults import DEFAULT_CONFIG, EXIT_BAD_INPUT
from pipeline import config as config_lib

DEFAULT_OUTPUT = os.path.join("build", "monitor.yaml")
DEFAULT_METADATA_GRPC = "metadata-grpc-service.kubeflow:8080"  # KFP's MLMD service, as its launcher reaches it
TASK = "skew-monitor"  # the task's name in the spec (from the component function's name)
COMMAND = ["python", "-m", "kfx.cli", "monitor"]


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx compile-monitor`."""
    parser = commands.add_parser(
        "compile-monitor",
        help="compile `kfx monitor` into a one-task Kubeflow Pipelines spec, for a recurring run (a failed run = skew)",
        description="Writes a PipelineSpec YAML (schemaVersion 2.1.0) with one uncached task that runs `kfx monitor` "
        "in the pipeline image. Submit it with `kfx submit --package build/monitor.yaml --recurring '0 */30 * * * *'`. "
        "The task exits 1 on skew past a threshold and 2 on bad input (no logs, an unknown version, ML Metadata "
        "unreachable); either fails the KFP run, which is the alert. Reports go to --output-dir.",
    )
    parser.add_argument("--image", required=True, help="pipeline image (kubeflow/Dockerfile), tag or digest")
    parser.add_argument(
        "--allow-mutable-image", action="store_true", help="accept ':latest' or an untagged image (not reproducible)"
    )
    parser.add_argument(
        "--logs",
        required=True,
        help="request logs in the bucket: a folder of *.tfrecord files or a logging filename_prefix, gs://...",
    )
    parser.add_argument(
        "--output-dir", required=True, help="where each run writes skew-<UTC time>.json/.html, gs://..."
    )
    metadata = parser.add_mutually_exclusive_group()
    metadata.add_argument(
        "--metadata-grpc",
        metavar="HOST:PORT",
        default=DEFAULT_METADATA_GRPC,
        help=f"KFP's ML Metadata service, as the task's pod reaches it (default {DEFAULT_METADATA_GRPC})",
    )
    metadata.add_argument(
        "--metadata-path", help="an ML Metadata SQLite file instead (testing; needs --allow-local-paths)"
    )
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help=f"pipeline configuration, checked now (default {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--config-path",
        help=f"the same configuration inside the image (default {compile_cmd.IMAGE_PROJECT_DIR}/configs/<file name>)",
    )
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"YAML file to write (default {DEFAULT_OUTPUT})")
    parser.add_argument("--allow-local-paths", action="store_true", help="accept local paths (for testing only)")
    parser.set_defaults(func=run_compile_monitor)


def run_compile_monitor(args: argparse.Namespace) -> int:
    """Compiles and writes the spec; returns 0, or 2 with a one-line error when an input is bad."""
    try:
        path = compile_monitor(args)
    except (compile_cmd.CompileError, config_lib.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"kfx compile-monitor: wrote {path}")
    return 0


def compile_monitor(args: argparse.Namespace) -> str:
    """Validates the options, writes the spec and returns its path."""
    compile_cmd.check_image(args.image, args.allow_mutable_image)
    if not args.output.endswith((".yaml", ".yml")):
        raise compile_cmd.CompileError(f"--output '{args.output}' must end with .yaml or .yml")
    config = config_lib.load(args.config)
    config_path = args.config_path or f"{compile_cmd.IMAGE_PROJECT_DIR}/configs/{os.path.basename(args.config)}"
    monitor_argv = [
        "--logs", _storage("--logs", args.logs, args.allow_local_paths),
        "--config", config_path,
        "--output-dir", _storage("--output-dir", args.output_dir, args.allow_local_paths),
    ]  # fmt: skip
    if args.metadata_path:
        monitor_argv += ["--metadata-path", _storage("--metadata-path", args.metadata_path, args.allow_local_paths)]
    else:
        monitor_argv += ["--metadata-grpc", _grpc_address(args.metadata_grpc)]
    output = os.path.abspath(args.output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    write_spec(f"{config.pipeline_name}-skew-monitor", args.image, monitor_argv, output)
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


def _storage(flag: str, value: str, allow_local: bool) -> str:
    """gs:// and s3:// as they are; a local path (made absolute) only with --allow-local-paths."""
    if value.startswith(compile_cmd.REMOTE_SCHEMES):
        return value
    if "://" in value or not allow_local:
        raise compile_cmd.CompileError(
            f"{flag} '{value}' must be gs:// or s3:// (the task's pod sees no local files of yours); local paths "
            "are accepted only with --allow-local-paths, for testing"
        )
    return os.path.abspath(value)


def _grpc_address(address: str) -> str:
    from monitoring import store

    try:
        store.grpc_address(address)
    except store.MetadataUnavailable as error:
        raise compile_cmd.CompileError(f"--metadata-grpc: {error}") from None
    return address
