"""`kfx compile-monitor`: a strict one-task PipelineSpec that open-source KFP v2 accepts and reruns on every schedule.

What it proves: the YAML parses as a PipelineSpec, has schemaVersion 2.1.0 and one uncached container task whose
command and arguments are a `kfx monitor` invocation the real command line accepts, with the configuration file at
its path inside the image, and `kfx submit` takes it as a package. Bad options end with one `error:` line.
tests/monitoring/test_skew.py replays the spec on real request logs. What it does not prove: that the pod reaches
metadata-grpc-service.kubeflow:8080 or the bucket; that needs a cluster.
"""

import os

import pytest
import yaml
from conftest import REPO
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kfx import cli
from runners.kubeflow import submit

CONFIG = os.path.join(REPO, "configs", "chicago_taxi.yaml")
IMAGE = "registry.example.com/kfx/pipeline:1.0.0-3f2c1ab"
LOGS = "gs://bucket/request_logs/chicago_taxi"
REPORTS = "gs://bucket/monitoring"
ARGV = ["compile-monitor", f"--config={CONFIG}", f"--image={IMAGE}", f"--logs={LOGS}", f"--output-dir={REPORTS}"]
TASK = "skew-monitor"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[str, dict]:
    output = str(tmp_path_factory.mktemp("monitor") / "monitor.yaml")
    assert cli.main([*ARGV, f"--output={output}"]) == 0
    with open(output, encoding="utf-8") as f:
        return output, yaml.safe_load(f)


def _container(spec: dict) -> dict:
    component = spec["components"][spec["root"]["dag"]["tasks"][TASK]["componentRef"]["name"]]
    return spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]


def test_one_uncached_task_in_a_strict_2_1_spec(compiled):
    _, spec = compiled
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert parsed.schema_version == "2.1.0"
    assert parsed.pipeline_info.name == "chicago-taxi-skew-monitor"
    assert list(spec["root"]["dag"]["tasks"]) == [TASK]
    task = parsed.root.dag.tasks[TASK]
    assert not task.caching_options.enable_cache  # every scheduled run reads the logs again
    assert not task.dependent_tasks and not task.inputs.parameters and not task.inputs.artifacts
    assert list(spec["deploymentSpec"]["executors"]) == ["exec-skew-monitor"]
    assert "inputDefinitions" not in spec["root"]  # nothing to pass at submit time


def test_the_task_runs_kfx_monitor_in_the_image_against_the_cluster_metadata(compiled):
    _, spec = compiled
    container = _container(spec)
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "kfx.cli", "monitor"]
    assert container["args"] == [
        "--logs", LOGS,
        "--config", "/pipeline/configs/chicago_taxi.yaml",
        "--output-dir", REPORTS,
        "--metadata-grpc", "metadata-grpc-service.kubeflow:8080",
    ]  # fmt: skip
    assert set(container) == {"image", "command", "args"}
    # The real command line accepts exactly these arguments, as the container will pass them.
    args = cli.build_parser().parse_args(container["command"][3:] + container["args"])
    assert (args.logs, args.metadata_grpc, args.output_dir) == (LOGS, "metadata-grpc-service.kubeflow:8080", REPORTS)
    assert os.path.isfile(os.path.join(REPO, os.path.relpath(args.config, "/pipeline")))  # copied into the image


def test_kfx_submit_accepts_it_and_compiling_twice_gives_identical_bytes(compiled, tmp_path):
    path, spec = compiled
    assert submit.load_package(path) == spec
    assert submit.declared_parameters(spec) == {}
    again = str(tmp_path / "again.yaml")
    assert cli.main([*ARGV, f"--output={again}"]) == 0
    with open(path, "rb") as first, open(again, "rb") as second:
        assert first.read() == second.read()


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"--image": "registry.example.com/kfx/pipeline:latest"}, "error: --image 'registry.example.com/kfx/pipe"),
        ({"--logs": "/srv/logs"}, "error: --logs '/srv/logs' must be gs:// or s3://"),
        ({"--output-dir": "minio://bucket/reports"}, "error: --output-dir 'minio://bucket/reports' must be gs:// or s3://"),
        ({"--metadata-grpc": "metadata-grpc-service"}, "error: --metadata-grpc: bad ML Metadata address"),
        ({"--config": "/no/such/config.yaml"}, "error: configuration file '/no/such/config.yaml' does not exist"),
        ({"--output": "build/monitor.json"}, "error: --output 'build/monitor.json' must end with .yaml or .yml"),
    ],
)  # fmt: skip
def test_bad_options_end_with_one_error_line_and_no_file(tmp_path, capsys, change, expected):
    output = str(tmp_path / "monitor.yaml")
    options = dict(arg.split("=", 1) for arg in [*ARGV[1:], f"--output={output}"])
    options.update(change)
    assert cli.main(["compile-monitor", *[f"{flag}={value}" for flag, value in options.items()]]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith(expected), captured.err
    assert not os.listdir(tmp_path)
