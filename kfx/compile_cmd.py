"""`kfx compile` and `kfx compile-monitor`: the pipeline, and the skew monitor, as KFP v2 specs (runners.kubeflow)."""

import argparse

from kfx import options
from runners.kubeflow import compile as compile_lib
from runners.kubeflow import monitor


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx compile` and `kfx compile-monitor`."""
    parser = commands.add_parser(
        "compile",
        help="compile the pipeline into a Kubeflow Pipelines v2 spec (YAML) for open-source KFP",
        description="Writes a PipelineSpec YAML (schemaVersion 2.1.0) to submit with kfp.Client; pass the same "
        "pipeline root when you submit (pipeline_root=...). Nothing is uploaded or submitted.",
    )
    options.add_config(parser)
    parser.add_argument(
        "--output",
        default=compile_lib.DEFAULT_OUTPUT,
        help=f"YAML file to write (default {compile_lib.DEFAULT_OUTPUT})",
    )
    _add_image(parser, "pipeline image with the project at /pipeline, tag or digest", "KFP caches on it")
    parser.add_argument("--pipeline-root", required=True, help="artifact root, gs://... or s3://")
    parser.add_argument(
        "--data-root",
        help="folder of span-<N>/ folders on the cluster, e.g. gs://b/data/chicago_taxi; each run reads the latest "
        "data.window spans found when it starts",
    )
    parser.add_argument("--serving-dir", help="base of pushed models (default <pipeline-root>/serving_model)")
    parser.add_argument(
        "--schema-path",
        help=f"curated schema inside the image (default {compile_lib.IMAGE_PROJECT_DIR}/configs/<schema file>)",
    )
    parser.add_argument(
        "--beam-preset",
        choices=sorted(compile_lib.BEAM_PRESETS),
        default="direct",
        help="Beam runner: direct = DirectRunner in each pod, all its CPUs; dataflow = DataflowRunner, runner v2, "
        "image as worker (needs --beam-arg=--project=... and --region, --temp_location); flink = FlinkRunner 1.18, "
        "EXTERNAL harness at localhost:50000 (needs --beam-arg=--flink_master=host:8081)",
    )
    parser.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        help="extra Beam argument, written --beam-arg=--flag=value (repeatable; overrides the preset)",
    )
    parser.add_argument(
        "--resources",
        action="append",
        default=[],
        metavar="COMPONENT=cpu:N,memory:NGi",
        help="container limits of one component, e.g. Trainer=cpu:4,memory:16Gi (repeatable)",
    )
    parser.add_argument("--no-cache", action="store_true", help="compile without KFP caching on any task")
    _add_metadata(parser, "where the window resolver reads the drift verdicts of earlier runs: KFP's ML Metadata")
    _add_local_paths(parser)
    parser.set_defaults(func=run_compile)

    parser = commands.add_parser(
        "compile-monitor",
        help="compile `kfx monitor` into a one-task Kubeflow Pipelines spec, for a recurring run (a failed run = skew)",
        description="Writes a PipelineSpec YAML (schemaVersion 2.1.0) with one uncached task that runs `kfx monitor` "
        "in the pipeline image. Submit it with `kfx submit --package build/monitor.yaml --recurring '0 */30 * * * *'`. "
        "The task exits 1 on skew past a threshold and 2 on bad input (no logs, an unknown version, ML Metadata "
        "unreachable); either fails the KFP run, which is the alert. Reports go to --output-dir.",
    )
    _add_image(parser, "pipeline image (kubeflow/Dockerfile), tag or digest", "not reproducible")
    parser.add_argument(
        "--logs",
        required=True,
        help="request logs in the bucket: a folder of *.tfrecord files or a logging filename_prefix, gs://...",
    )
    parser.add_argument(
        "--output-dir", required=True, help="where each run writes skew-<UTC time>.json/.html, gs://..."
    )
    _add_metadata(parser, "KFP's ML Metadata, where the task reads each version's lineage")
    options.add_config(parser, "checked now")
    parser.add_argument(
        "--config-path",
        help=f"the same configuration inside the image (default {compile_lib.IMAGE_PROJECT_DIR}/configs/<file name>)",
    )
    parser.add_argument(
        "--output", default=monitor.DEFAULT_OUTPUT, help=f"YAML file to write (default {monitor.DEFAULT_OUTPUT})"
    )
    _add_local_paths(parser)
    parser.set_defaults(func=run_compile_monitor)


def _add_image(parser: argparse.ArgumentParser, what: str, why_immutable: str) -> None:
    parser.add_argument("--image", required=True, help=what)
    parser.add_argument(
        "--allow-mutable-image", action="store_true", help=f"accept ':latest' or an untagged image ({why_immutable})"
    )


def _add_metadata(parser: argparse.ArgumentParser, what: str) -> None:
    metadata = parser.add_mutually_exclusive_group()
    metadata.add_argument(
        "--metadata-grpc",
        metavar="HOST:PORT",
        default=compile_lib.DEFAULT_METADATA_GRPC,
        help=f"{what}, as the task's pod reaches it (default {compile_lib.DEFAULT_METADATA_GRPC})",
    )
    metadata.add_argument(
        "--metadata-path", help="an ML Metadata SQLite file instead (testing; needs --allow-local-paths)"
    )


def _add_local_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-local-paths", action="store_true", help="accept local paths (for testing only)")


def run_compile(args: argparse.Namespace) -> int:
    """Compiles and writes the spec; a bad input is a CompileError, ConfigError or DataError (exit 2 in kfx.cli)."""
    compile_options = compile_lib.CompileOptions(
        config_path=args.config,
        image=args.image,
        pipeline_root=args.pipeline_root,
        output=args.output,
        data_root=args.data_root,
        serving_dir=args.serving_dir,
        schema_path=args.schema_path,
        beam_preset=args.beam_preset,
        beam_args=tuple(args.beam_arg),
        resources=tuple(args.resources),
        enable_cache=not args.no_cache,
        allow_mutable_image=args.allow_mutable_image,
        allow_local_paths=args.allow_local_paths,
        metadata_grpc=args.metadata_grpc,
        metadata_path=args.metadata_path,
    )
    print(f"kfx compile: wrote {compile_lib.compile_pipeline(compile_options)}")
    return 0


def run_compile_monitor(args: argparse.Namespace) -> int:
    """Compiles and writes the monitor's spec; a bad input is a CompileError or ConfigError (exit 2 in kfx.cli)."""
    monitor_options = monitor.MonitorOptions(
        config_path=args.config,
        image=args.image,
        logs=args.logs,
        output_dir=args.output_dir,
        output=args.output,
        metadata_grpc=args.metadata_grpc,
        metadata_path=args.metadata_path,
        config_path_in_image=args.config_path,
        allow_mutable_image=args.allow_mutable_image,
        allow_local_paths=args.allow_local_paths,
    )
    print(f"kfx compile-monitor: wrote {monitor.compile_monitor(monitor_options)}")
    return 0
