"""`kfx compile`: the YAML is a strict PipelineSpec that open-source KFP v2 accepts, built as configured."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_replay import kfx_compile, topological_order

CONFIG = os.path.join(REPO, "configs", "chicago_taxi.yaml")
IMAGE = "registry.example.com/kfx/pipeline:1.0.0-3f2c1ab"
COMMAND = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
BEAM_ARGS = ["--project=my-project", "--region=europe-west1", "--temp_location=gs://bucket/tmp"]
ARGV = [
    f"--config={CONFIG}",
    f"--image={IMAGE}",
    "--pipeline-root=gs://bucket/root",
    "--data-root=gs://bucket/data/chicago_taxi",
    "--serving-dir=gs://bucket/serving",
    "--beam-preset=dataflow",
    *[f"--beam-arg={arg}" for arg in BEAM_ARGS],
    "--resources=Trainer=cpu:4,memory:16Gi",
    "--resources=Transform=cpu:2,memory:8G",
]
RESOLVER = "resolve-data-window"
# Every component and what it waits for: the pipeline's topology (pipeline/pipeline.py).
DEPENDENCIES = {
    "WindowExampleGen": [],
    "StatisticsGen": ["ImportSchemaGen", "WindowExampleGen"],
    "SchemaGen": ["StatisticsGen"],
    "ImportSchemaGen": [],
    "ExampleValidator": ["ImportSchemaGen", "StatisticsGen"],
    "DataGate": ["ExampleValidator"],
    "DistributionValidator": ["StatisticsGen"],
    "DriftGate": ["DistributionValidator", "StatisticsGen", "WindowExampleGen"],
    "DriftStop": ["DriftGate"],
    "Transform": ["DataGate", "DriftStop", "ImportSchemaGen", "WindowExampleGen"],
    "Trainer": ["ImportSchemaGen", "Transform", "WindowExampleGen"],
    "ServingBaseline": ["Trainer"],
    "Evaluator": ["ServingBaseline", "Trainer", "WindowExampleGen"],
    "Pusher": ["Evaluator", "Trainer"],
}
# In the compiled spec, WindowExampleGen and DriftGate also wait for the task that resolves the window (and reads
# the drift verdicts) when the run starts.
TASK_DEPENDENCIES = {
    **DEPENDENCIES,
    "WindowExampleGen": [RESOLVER],
    "DriftGate": sorted([*DEPENDENCIES["DriftGate"], RESOLVER]),
    RESOLVER: [],
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[str, dict]:
    output = str(tmp_path_factory.mktemp("compile") / "pipeline.yaml")
    assert kfx_compile([*ARGV, f"--output={output}"]) == 0
    with open(output, encoding="utf-8") as f:
        return output, yaml.safe_load(f)


def _containers(spec: dict) -> dict[str, dict]:
    """Task name -> its executor's container."""
    executors = spec["deploymentSpec"]["executors"]
    return {
        name: executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]["container"]
        for name, task in spec["root"]["dag"]["tasks"].items()
    }


def test_strict_parse_and_schema_version(compiled):
    _, spec = compiled
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert parsed.schema_version == "2.1.0"
    assert parsed.pipeline_info.name == "chicago-taxi"


def test_no_resolver_or_importer_executors(compiled):
    _, spec = compiled
    for label, executor in spec["deploymentSpec"]["executors"].items():
        assert "resolver" not in executor, label
        assert list(executor) == ["container"], label


def test_no_task_takes_one_artifact_twice(compiled):
    """ML Metadata keeps one INPUT event per (artifact, execution): the KFP driver cannot record a second one."""
    _, spec = compiled
    for name, task in spec["root"]["dag"]["tasks"].items():
        sources = [
            (source["taskOutputArtifact"]["producerTask"], source["taskOutputArtifact"]["outputArtifactKey"])
            for source in task.get("inputs", {}).get("artifacts", {}).values()
        ]
        assert len(sources) == len(set(sources)), (name, sources)


def test_every_component_in_dependency_order(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    assert {name: sorted(task.get("dependentTasks", [])) for name, task in tasks.items()} == TASK_DEPENDENCIES
    order = topological_order(tasks)
    for name, upstream in TASK_DEPENDENCIES.items():
        assert all(order.index(u) < order.index(name) for u in upstream), (name, order)


def test_matches_the_tfx_pipeline_topology():
    from pipeline import config as config_lib
    from pipeline import pipeline as pipeline_lib

    tfx_pipeline = pipeline_lib.create_pipeline(
        config_lib.load(CONFIG),
        pipeline_root="gs://b/r",
        data_path="gs://b/d",
        input_base="gs://b/d",
        input_pattern="span-*/*.csv",
        serving_model_dir="gs://b/s/m",
    )
    actual = {c.id: sorted(u.id for u in c.upstream_nodes) for c in tfx_pipeline.components}
    assert actual == DEPENDENCIES


def test_image_command_caching_and_paths(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    for name, container in _containers(spec).items():
        assert container["image"] == IMAGE, name
        if name != RESOLVER:
            assert container["command"] == COMMAND, name
        if name not in (RESOLVER, "ServingBaseline"):
            assert tasks[name]["cachingOptions"] == {"enableCache": True}, name
    parameters = {name: task.get("inputs", {}).get("parameters", {}) for name, task in tasks.items()}
    constant = lambda task, key: parameters[task][key]["runtimeValue"]["constant"]  # noqa: E731
    assert constant("WindowExampleGen", "input_base") == "gs://bucket/data/chicago_taxi"
    assert constant("ImportSchemaGen", "schema_file") == "/pipeline/configs/chicago_taxi.schema.pbtxt"
    assert constant("ServingBaseline", "serving_model_dir") == "gs://bucket/serving/chicago_taxi"
    assert "gs://bucket/serving/chicago_taxi" in constant("Pusher", "push_destination")
    assert constant("Trainer", "run_fn") == "models.trainer.run_fn"


def test_beam_args_on_every_task(compiled):
    _, spec = compiled
    # TFX appends pipeline-level Beam args to every container; non-Beam executors receive them as unused extra flags.
    expected = ["--runner=DataflowRunner", "--experiments=use_runner_v2", f"--sdk_container_image={IMAGE}", *BEAM_ARGS]
    for name, container in _containers(spec).items():
        if name != RESOLVER:
            assert container["args"][-len(expected) :] == expected, name
    driver = _containers(spec)["WindowExampleGen"]["lifecycle"]["preCacheCheck"]
    assert driver["args"][-len(expected) :] == expected


def test_the_window_is_resolved_when_the_run_starts_by_an_uncached_task(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    assert "cachingOptions" not in tasks[RESOLVER]  # runs in every run: new spans are always seen
    resolver = _containers(spec)[RESOLVER]
    assert resolver["command"] == ["python", "-m", "components.window_example_gen.resolve"]
    args = dict(zip(resolver["args"][::2], resolver["args"][1::2], strict=True))
    assert args == {
        "--data-path": "gs://bucket/data/chicago_taxi",
        "--window": "4",
        "--pipeline-name": "chicago-taxi",  # whose drift verdicts apply
        "--metadata": "grpc://metadata-grpc-service.kubeflow:8080",  # KFP's ML Metadata, where they are recorded
        "--accept-drift": "{{$.inputs.parameters['accept_drift']}}",
        "--output-file": "{{$.outputs.parameters['custom_config'].output_file}}",
        "--acceptance-file": "{{$.outputs.parameters['drift_acceptance'].output_file}}",
    }
    # ExampleGen's cache key includes the resolved window (spans left out, reference): reused when no span or
    # verdict changed. The DriftGate's includes the acceptance.
    for task, key, output in (("WindowExampleGen", "custom_config", "custom_config"),
                              ("DriftGate", "acceptance", "drift_acceptance")):  # fmt: skip
        wired = tasks[task]["inputs"]["parameters"][key]
        assert wired == {"taskOutputParameter": {"producerTask": RESOLVER, "outputParameterKey": output}}
    # Who accepts the newest span's drift is a run-time parameter (kfx submit --param accept_drift=NAME), "" by default.
    assert spec["root"]["inputDefinitions"]["parameters"]["accept_drift"] == {
        "parameterType": "STRING", "defaultValue": "", "isOptional": True
    }  # fmt: skip
    assert tasks[RESOLVER]["inputs"]["parameters"]["accept_drift"] == {"componentInputParameter": "accept_drift"}


def test_the_served_model_is_read_in_every_run_and_the_policy_reaches_the_evaluator(compiled):
    _, spec = compiled
    tasks = spec["root"]["dag"]["tasks"]
    # ServingBaseline's inputs do not change when the serving folder does (a push, a rollback): never cached, so the
    # Evaluator, whose input its output is, always compares with the version served when the run reaches it.
    assert "cachingOptions" not in tasks["ServingBaseline"]
    comparison = tasks["Evaluator"]["inputs"]["parameters"]["comparison"]["runtimeValue"]["constant"]
    assert json.loads(comparison) == {
        "policy": "non_inferiority", "margin": 0.01, "confidence": 0.95, "min_slice_size": 30
    }  # fmt: skip
    eval_config = json.loads(tasks["Evaluator"]["inputs"]["parameters"]["eval_config"]["runtimeValue"]["constant"])
    metrics = eval_config["metrics_specs"][0]["metrics"]
    assert {"class_name": "AUCComparison", "module": "components.champion_evaluator.auc_comparison"} in metrics


def test_resources_where_configured(compiled):
    _, spec = compiled
    resources = {name: c.get("resources") for name, c in _containers(spec).items() if c.get("resources")}
    assert resources == {
        "Trainer": {"cpuLimit": 4.0, "memoryLimit": pytest.approx(16 * 2**30 / 1e9, abs=1e-5)},
        "Transform": {"cpuLimit": 2.0, "memoryLimit": 8.0},
    }


def test_compiling_twice_gives_identical_bytes(compiled, tmp_path):
    first, _ = compiled
    second = tmp_path / "again.yaml"
    # A separate interpreter, so hash seeds and import order cannot hide nondeterminism.
    script = "import sys; from kfp_replay import kfx_compile; sys.exit(kfx_compile(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.abspath(__file__)), "PYTHONHASHSEED": "random"}
    subprocess.run([sys.executable, "-c", script, *ARGV, f"--output={second}"], check=True, env=env, cwd=REPO)
    with open(first, "rb") as f:
        assert f.read() == second.read_bytes()


@pytest.mark.parametrize(
    "override, message",
    [
        ("--image=registry.example.com/kfx/pipeline:latest", "mutable"),
        ("--image=registry.example.com/kfx/pipeline", "mutable"),
        ("--image=localhost:5000/pipeline", "mutable"),
        ("--pipeline-root=/tmp/root", "--allow-local-paths"),
        ("--pipeline-root=minio://mlpipeline/v2/artifacts", "gs:// or s3://"),
        ("--resources=Trainr=cpu:2", "unknown component"),
        ("--resources=Trainer=cpu:2,memory:8GB", "cannot read"),
    ],
)
def test_refuses_bad_input(override, message, tmp_path, capsys):
    flag = override.split("=", 1)[0]
    argv = [a for a in ARGV if not (a.startswith(flag + "=") and flag != "--resources")] + [override]
    assert kfx_compile([*argv, f"--output={tmp_path / 'p.yaml'}"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1
    assert not (tmp_path / "p.yaml").exists()


def test_refuses_json_output(tmp_path, capsys):
    assert kfx_compile([*ARGV, f"--output={tmp_path / 'pipeline.json'}"]) == 2
    assert ".yaml or .yml" in capsys.readouterr().err


def test_dataflow_needs_project_region_temp_location(tmp_path, capsys):
    argv = [a for a in ARGV if not a.startswith("--beam-arg")]
    assert kfx_compile([*argv, f"--output={tmp_path / 'p.yaml'}"]) == 2
    assert "--beam-arg=--project=..." in capsys.readouterr().err


def test_force_flags_accept_mutable_image_and_local_paths(tmp_path):
    output = tmp_path / "p.yaml"
    argv = [a for a in ARGV if not a.startswith(("--image", "--pipeline-root", "--data-root", "--serving-dir"))]
    argv += ["--image=pipeline:latest", "--allow-mutable-image", f"--pipeline-root={tmp_path / 'root'}"]
    assert kfx_compile([*argv, "--allow-local-paths", f"--output={output}"]) == 0
    spec = yaml.safe_load(output.read_text())
    example_gen = spec["root"]["dag"]["tasks"]["WindowExampleGen"]["inputs"]["parameters"]
    # Without --data-root, the config's data path: its spans are resolved when the run starts.
    assert example_gen["input_base"]["runtimeValue"]["constant"] == os.path.join(REPO, "data", "chicago_taxi")


def test_direct_runner_workers_follow_each_components_cpu_limit_not_the_node(tmp_path):
    output = str(tmp_path / "pipeline.yaml")
    argv = [a for a in ARGV if not a.startswith(("--beam-preset", "--beam-arg", "--resources"))]
    argv += ["--beam-preset=direct", "--resources=Transform=cpu:6", "--resources=Evaluator=cpu:2", f"--output={output}"]
    assert kfx_compile(argv) == 0
    with open(output, encoding="utf-8") as f:
        containers = _containers(yaml.safe_load(f))

    def workers(name: str) -> list[str]:  # Beam's parser keeps the last value of a flag
        args = containers[name]["args"]
        flags = ("--direct_running_mode", "--direct_num_workers")
        return [[a for a in args if a.startswith(flag)][-1] for flag in flags if any(a.startswith(flag) for a in args)]

    assert workers("Transform") == ["--direct_running_mode=multi_processing", "--direct_num_workers=6"]
    one_in_memory = []  # Beam's defaults: no argument, so TFX does not repackage itself in each pod (cpus.py)
    assert workers("Evaluator") == one_in_memory  # 2 CPUs: below cpus.MULTI_PROCESSING_MIN_CPUS
    assert workers("StatisticsGen") == one_in_memory  # no limit: the node's CPU count is not the pod's
    assert not any("--direct_num_workers=0" in arg for c in containers.values() for arg in c.get("args", []))
