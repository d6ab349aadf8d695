"""Compiles the pipeline into a KFP v2 PipelineSpec YAML for open-source Kubeflow Pipelines (`kfx compile`).

The topology comes from `pipeline.pipeline.create_pipeline`; this module only knows the platform: the image, storage
URIs, Beam runner arguments and per-component resources. The output targets the OSS KFP v2 backend: schemaVersion
2.1.0, no `resolver` executors, and the window of spans resolved when each run starts (runners/kubeflow/window.py),
since the backend never runs ExampleGen's driver.
"""

import dataclasses
import math
import os
import re
import tempfile
from typing import Any

from pipeline import config as config_lib
from pipeline import data as data_lib
from runners import cpus, output
from runners.kubeflow import window

DEFAULT_OUTPUT = os.path.join("build", "pipeline.yaml")
DEFAULT_METADATA_GRPC = "metadata-grpc-service.kubeflow:8080"  # KFP's MLMD service, as its pods reach it
# Where the image installs the project (WORKDIR /pipeline, configs/ copied alongside the code).
IMAGE_PROJECT_DIR = "/pipeline"
REMOTE_SCHEMES = ("gs://", "s3://")
# Beam's defaults (DirectRunner, one in-memory worker; no arguments, see cpus.direct_runner_args) unless a
# component's CPU limit (--resources) says more: `--direct_num_workers=0` would start one worker per CPU of the node,
# not of the pod.
_DIRECT_ARGS = cpus.direct_runner_args(1)
_DATAFLOW_ARGS = ["--runner=DataflowRunner", "--experiments=use_runner_v2"]  # + --sdk_container_image=<image>
_FLINK_ARGS = [
    "--runner=FlinkRunner",
    "--flink_version=1.18",  # Beam 2.59 accepts 1.15-1.18 only
    "--flink_submit_uber_jar",
    "--environment_type=EXTERNAL",
    "--environment_config=localhost:50000",  # the SDK harness sidecar (worker pool) of each task manager
]
BEAM_PRESETS = {"direct": _DIRECT_ARGS, "dataflow": _DATAFLOW_ARGS, "flink": _FLINK_ARGS}
# Arguments a preset cannot guess; they must come from --beam-arg.
_REQUIRED_BEAM_ARGS = {
    "direct": (),
    "dataflow": ("--project", "--region", "--temp_location"),
    "flink": ("--flink_master",),
}
_MEMORY_UNITS = {"G": 1.0, "Gi": 2**30 / 1e9, "M": 1e-3, "Mi": 2**20 / 1e9}  # ResourceSpec.memory_limit is in GB


class CompileError(ValueError):
    """A command-line value cannot produce a valid spec; the message says which and how to fix it."""


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """What `kfx compile` was asked; paths are checked by `compile_pipeline`."""

    config_path: str
    image: str
    pipeline_root: str
    output: str = DEFAULT_OUTPUT
    data_root: str | None = None  # default: the configuration's data path, with allow_local_paths only
    serving_dir: str | None = None  # default: <pipeline root>/serving_model
    schema_path: str | None = None  # default: <IMAGE_PROJECT_DIR>/configs/<the configured schema's file name>
    beam_preset: str = "direct"
    beam_args: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()  # COMPONENT=cpu:N,memory:NGi
    enable_cache: bool = True
    allow_mutable_image: bool = False
    allow_local_paths: bool = False
    metadata_grpc: str = DEFAULT_METADATA_GRPC  # where the window resolver reads the drift verdicts of earlier runs
    metadata_path: str | None = None  # an ML Metadata SQLite file instead of the service (testing)


def compile_pipeline(options: CompileOptions) -> str:
    """Validates the options, builds the pipeline with create_pipeline and writes the YAML; returns its path.

    Raises CompileError (or ConfigError, DataError) naming the bad option before anything is written.
    """
    check_image(options.image, options.allow_mutable_image)
    if not options.output.endswith((".yaml", ".yml")):
        raise CompileError(
            f"--output '{options.output}' must end with .yaml or .yml (the only spec kfp.Client accepts)"
        )
    config = config_lib.load(options.config_path)
    pipeline_root = storage_path("--pipeline-root", options.pipeline_root, options.allow_local_paths)
    serving_base = options.serving_dir or f"{pipeline_root.rstrip('/')}/serving_model"
    serving_model_dir = f"{storage_path('--serving-dir', serving_base, options.allow_local_paths).rstrip('/')}/"
    serving_model_dir += config.serving.model_name
    data_root = _data_root(options, config)
    metadata = _metadata_target(options)
    if config.data.schema:
        schema = options.schema_path or f"{IMAGE_PROJECT_DIR}/configs/{os.path.basename(config.data.schema)}"
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, schema=schema))
    beam_args = beam_pipeline_args(options.beam_preset, list(options.beam_args), options.image)
    path = os.path.abspath(options.output)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # TensorFlow and the Google client libraries print pages of warnings on import; they go to a log instead.
    with output.output_to_log(os.path.splitext(path)[0] + ".compile.log", verbose=False):
        _write_spec(options, config, path, pipeline_root, data_root, serving_model_dir, beam_args, metadata)
    return path


def _write_spec(
    options: CompileOptions,
    config: config_lib.PipelineConfig,
    output: str,
    pipeline_root: str,
    data_root: str,
    serving_model_dir: str,
    beam_args: list[str],
    metadata: str,
) -> None:
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx import v1 as tfx

    from pipeline import pipeline as pipeline_lib

    tfx_pipeline = pipeline_lib.create_pipeline(
        config,
        pipeline_root=pipeline_root,
        data_path=data_root,
        input_base=data_root,
        input_pattern=data_lib.SPANS_PATTERN,
        serving_model_dir=serving_model_dir,
        beam_pipeline_args=beam_args,
        enable_cache=options.enable_cache,
    )
    components = {component.id: component for component in tfx_pipeline.components}
    for component_id, spec in parse_resources(list(options.resources), sorted(components)).items():
        component = components[component_id]
        component.with_platform_config(spec)
        if options.beam_preset == "direct" and spec.cpu_limit and hasattr(component, "with_beam_pipeline_args"):
            # After the pipeline's arguments, so these win: DirectRunner workers from the container's CPU limit.
            workers = cpus.default_workers(max(1, math.floor(spec.cpu_limit)))
            component.with_beam_pipeline_args(cpus.direct_runner_args(workers))

    runner_config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
        default_image=options.image, use_pipeline_spec_2_1=True
    )
    # Written beside the target, then renamed: a failed compile never leaves half a spec.
    with tempfile.TemporaryDirectory(dir=os.path.dirname(output)) as staging:
        tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=runner_config, output_dir=staging, output_filename="pipeline.yaml"
        ).run(tfx_pipeline)
        staged = os.path.join(staging, "pipeline.yaml")
        with open(staged, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        window.add_window_resolver(spec, options.image, data_root, config.data.window, config.pipeline_name, metadata)
        for task in pipeline_lib.NEVER_CACHED:  # they read the serving folder: run in every run, as the resolver
            spec["root"]["dag"]["tasks"][task].pop("cachingOptions", None)
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # still a valid PipelineSpec
        with open(staged, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f, sort_keys=True)
        os.replace(staged, output)


def check_image(image: str, allow_mutable: bool) -> None:
    """Refuses an image KFP would cache stale results for: `:latest` or no tag (digests are always fine)."""
    if "@sha256:" in image or allow_mutable:
        return
    name = image.rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    if tag in ("", "latest"):
        raise CompileError(
            f"--image '{image}' is mutable ({'no tag' if not tag else ':latest'}); KFP caches on the image string, "
            "so tag it immutably (e.g. :1.0.0-<git sha>) or pin a digest, or pass --allow-mutable-image"
        )


def beam_pipeline_args(preset: str, extra: list[str], image: str) -> list[str]:
    """The preset's defaults followed by --beam-arg values (Beam's parser keeps the last value of a flag)."""
    args = list(BEAM_PRESETS[preset]) + (["--sdk_container_image=" + image] if preset == "dataflow" else [])
    missing = [flag for flag in _REQUIRED_BEAM_ARGS[preset] if not any(a.startswith(flag + "=") for a in extra)]
    if missing:
        needed = " ".join(f"--beam-arg={flag}=..." for flag in missing)
        raise CompileError(f"--beam-preset {preset} needs {needed}")
    return args + extra


def parse_resources(values: list[str], component_ids: list[str]) -> dict[str, Any]:
    """Parses `COMPONENT=cpu:2,memory:8Gi` values into ResourceSpec protos (limits) keyed by component id."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    resource_spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
    specs = {}
    for value in values:
        component_id, _, body = value.partition("=")
        if component_id not in component_ids:
            raise CompileError(f"--resources '{value}': unknown component; choose from {', '.join(component_ids)}")
        spec = specs.setdefault(component_id, resource_spec())
        for item in body.split(","):
            key, _, amount = item.strip().partition(":")
            try:
                if key == "cpu":
                    spec.cpu_limit = float(amount[:-1]) / 1000 if amount.endswith("m") else float(amount)
                elif key == "memory":
                    number, unit = re.fullmatch(r"([0-9.]+)(Gi|G|Mi|M)", amount).groups()
                    spec.memory_limit = round(float(number) * _MEMORY_UNITS[unit], 6)
                else:
                    raise ValueError(key)
            except (ValueError, AttributeError):
                raise CompileError(
                    f"--resources '{value}': cannot read '{item}'; use cpu:<cores or Nm>,memory:<N>(Gi|G|Mi|M)"
                ) from None
    return specs


def storage_path(flag: str, value: str, allow_local: bool) -> str:
    """Accepts gs:// and s3:// URIs; a local path (made absolute) only with --allow-local-paths.

    The tasks' pods see neither this machine's files nor the backend's MinIO (TFX executors cannot open minio://).
    """
    if value.startswith(REMOTE_SCHEMES):
        return value
    if "://" in value or not allow_local:
        raise CompileError(
            f"{flag} '{value}' must be gs:// or s3:// (the pipeline's pods cannot open minio:// or local paths of "
            "yours); local paths are accepted only with --allow-local-paths, for testing"
        )
    return os.path.abspath(value)


def _metadata_target(options: CompileOptions) -> str:
    """Where the window resolver reads the drift verdicts: grpc://HOST:PORT, or a SQLite file (testing)."""
    if options.metadata_path:
        return storage_path("--metadata-path", options.metadata_path, options.allow_local_paths)
    from monitoring import store

    try:
        store.grpc_address(options.metadata_grpc)
    except store.MetadataUnavailable as error:
        raise CompileError(f"--metadata-grpc: {error}") from None
    return store.GRPC_SCHEME + options.metadata_grpc


def _data_root(options: CompileOptions, config: config_lib.PipelineConfig) -> str:
    """The folder of spans the tasks read; without --data-root, the config's data path (for local tests)."""
    if options.data_root:
        return storage_path("--data-root", options.data_root, options.allow_local_paths)
    if options.allow_local_paths:
        return data_lib.locate(config.data.path, config.data.window).data_path
    raise CompileError("--data-root is required (gs://... folder of the span-<N>/ folders the cluster reads)")
