"""Replays a compiled KFP v2 PipelineSpec (YAML) task by task, the way the KFP driver and launcher run it.

For each task of `root.dag.tasks`, in topological order of `dependentTasks`, it builds the ExecutorInput the launcher
would (parameter values from `runtimeValue` constants, root parameters or upstream output parameters; input
artifacts from the upstream ExecutorOutputs, keeping their `instanceSchema` type, uri and metadata; output artifacts
under `<root>/<run>/<task>/<key>`, named per run as MLMD names them; output parameter files; `outputFile`),
substitutes `{{$}}`, the input parameter and the output parameter placeholders, runs `lifecycle.preCacheCheck` (the
ExampleGen driver) when asked to, then the container's command and args as a local subprocess, and reads the outputs
back.
With a `cache` dict shared between replays, a task whose `cachingOptions.enableCache` is set reuses the outputs of
an earlier execution with the same key, computed as the open-source backend computes it (backend/src/v2/cacheutils):
input artifact names, input parameter values, output artifact names and types, and the image, command and args.
A bare `python` in a command becomes this interpreter, so the venv plays the part of the image.
With a `metadata` recorder (kfp_mlmd.py) every run, task, artifact and event is also written to ML Metadata as the
KFP v2 driver and launcher write them, and artifacts are then named by their MLMD ids, as the launcher names them.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_mlmd import KfpMetadataRecorder
from ml_metadata.proto import metadata_store_pb2

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
OUTPUT_FILE_PLACEHOLDER = "{{{{$.outputs.parameters['{}'].output_file}}}}"
INPUT_PARAMETER_PLACEHOLDER = "{{{{$.inputs.parameters['{}']}}}}"


class ReplayError(RuntimeError):
    """A task could not be run or failed; the message names the task and the end of its log."""


@dataclasses.dataclass
class TaskRun:
    """What one task received and produced."""

    name: str
    executor_input: dict[str, Any]
    # Output key -> runtime artifacts ({name, type, uri, metadata}) after merging the ExecutorOutput.
    outputs: dict[str, list[dict[str, Any]]]
    log_path: str
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)  # output parameter values
    cached: bool = False
    execution_id: int | None = None  # in the recorded ML Metadata


def load_spec(path: str) -> dict[str, Any]:
    """Reads the YAML and checks it is a valid PipelineSpec (strict proto parse)."""
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    return spec


def topological_order(tasks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Kahn's algorithm over dependentTasks; ties broken by name so the order is stable."""
    pending = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    order: list[str] = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps - set(order))
        if not ready:
            raise ReplayError(f"dependency cycle among tasks {sorted(pending)}")
        order.append(ready[0])
        del pending[ready[0]]
    return order


def replay(
    spec_path: str,
    root: str,
    run_id: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    run_drivers: bool = True,
    env: Mapping[str, str] | None = None,
    cache: dict[str, TaskRun] | None = None,
    metadata: KfpMetadataRecorder | None = None,
) -> dict[str, TaskRun]:
    """Runs every task of the spec; returns the runs by task name. Raises ReplayError on the first failure.

    `run_drivers=False` skips `lifecycle.preCacheCheck`, as the open-source KFP backend does. `cache` (None: no
    caching) holds earlier executions by cache key, across replays. `metadata` records the run in ML Metadata.
    """
    spec = load_spec(spec_path)
    executors = spec["deploymentSpec"]["executors"]
    tasks = spec["root"]["dag"]["tasks"]
    # The run's parameters over the spec's defaults, as the backend resolves a run's root inputs.
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    defaults = {key: value["defaultValue"] for key, value in declared.items() if "defaultValue" in value}
    parameters = {**defaults, **(parameters or {})}
    recorded = metadata.start_run(spec["pipelineInfo"]["name"], run_id, root, parameters) if metadata else None
    runs: dict[str, TaskRun] = {}
    for name in topological_order(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        if "container" not in executor:
            raise ReplayError(f"task {name}: executor {sorted(executor)} is not a container (resolver/importer?)")
        task_dir = os.path.join(root, run_id, name)
        executor_input = _executor_input(name, task, component, runs, parameters, task_dir, run_id)
        json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())  # the shape the launcher sends
        container = executor["container"]
        key = _cache_key(executor_input, container)
        if cache is not None and task.get("cachingOptions", {}).get("enableCache") and key in cache:
            runs[name] = dataclasses.replace(cache[key], cached=True)
            if metadata:
                reused = cache[key]
                execution = metadata.create_execution(
                    recorded, name, task, container, executor_input, key, reused.execution_id
                )
                metadata.publish(
                    recorded, execution, metadata_store_pb2.Execution.CACHED, reused.outputs, reused.parameters
                )
            continue
        execution = (
            metadata.create_execution(recorded, name, task, container, executor_input, key) if metadata else None
        )
        os.makedirs(task_dir, exist_ok=True)
        log_path = os.path.join(task_dir, "log.txt")
        try:
            if run_drivers and "lifecycle" in container:
                hook = container["lifecycle"]["preCacheCheck"]
                _run(name + " driver", hook["command"], hook["args"], executor_input, log_path, env)
            _run(name, container["command"], container["args"], executor_input, log_path, env)
        except ReplayError:
            if metadata:
                metadata.publish(recorded, execution, metadata_store_pb2.Execution.FAILED)
                metadata.finish_run(recorded, metadata_store_pb2.Execution.FAILED)
            raise
        outputs, output_parameters = _merge_outputs(executor_input), _read_parameters(executor_input)
        if metadata:
            outputs = metadata.record_outputs(outputs)
            metadata.publish(recorded, execution, metadata_store_pb2.Execution.COMPLETE, outputs, output_parameters)
        runs[name] = TaskRun(
            name, executor_input, outputs, log_path, output_parameters, execution_id=execution.id if execution else None
        )
        if cache is not None:
            cache[key] = runs[name]
    if metadata:
        metadata.finish_run(recorded, metadata_store_pb2.Execution.COMPLETE)
    return runs


def _cache_key(executor_input: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    inputs = executor_input["inputs"]
    outputs = executor_input["outputs"]["artifacts"]
    fingerprint = {
        "input_artifacts": {k: [a["name"] for a in v["artifacts"]] for k, v in inputs["artifacts"].items()},
        "parameters": inputs["parameterValues"],
        # The backend wipes output URIs from the key (and names outputs before running): types only here.
        "outputs": {k: [a["type"] for a in v["artifacts"]] for k, v in outputs.items()},
        "container": [container.get("image"), container.get("command"), container.get("args")],
    }
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def _read_parameters(executor_input: Mapping[str, Any]) -> dict[str, str]:
    values = {}
    for key, parameter in executor_input["outputs"].get("parameters", {}).items():
        with open(parameter["outputFile"], encoding="utf-8") as f:
            values[key] = f.read()
    return values


def _executor_input(
    name: str,
    task: Mapping[str, Any],
    component: Mapping[str, Any],
    runs: Mapping[str, TaskRun],
    root_parameters: Mapping[str, Any],
    task_dir: str,
    run_id: str,
) -> dict[str, Any]:
    inputs = task.get("inputs", {})
    parameter_values = {}
    for key, source in inputs.get("parameters", {}).items():
        if "runtimeValue" in source:
            parameter_values[key] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            parameter_values[key] = root_parameters[source["componentInputParameter"]]
        elif "taskOutputParameter" in source:
            upstream = source["taskOutputParameter"]
            parameter_values[key] = runs[upstream["producerTask"]].parameters[upstream["outputParameterKey"]]
        else:
            raise ReplayError(f"task {name}: unsupported parameter source {source} for '{key}'")
    artifacts = {}
    for key, source in inputs.get("artifacts", {}).items():
        upstream = source["taskOutputArtifact"]
        artifacts[key] = {"artifacts": runs[upstream["producerTask"]].outputs[upstream["outputArtifactKey"]]}
    outputs = {}
    for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        uri = os.path.join(task_dir, key)
        os.makedirs(uri, exist_ok=True)  # the launcher prepares output folders too
        # MLMD names each produced artifact anew: downstream cache keys change when an upstream task re-ran.
        artifact = {"name": f"{run_id}/{name}.{key}", "type": definition["artifactType"], "uri": uri, "metadata": {}}
        outputs[key] = {"artifacts": [artifact]}
    output_parameters = {
        key: {"outputFile": os.path.join(task_dir, "parameters", key)}
        for key in component.get("outputDefinitions", {}).get("parameters", {})
    }
    return {
        "inputs": {"parameterValues": parameter_values, "artifacts": artifacts},
        "outputs": {
            "artifacts": outputs,
            "parameters": output_parameters,
            "outputFile": os.path.join(task_dir, "executor_output.json"),
        },
    }


def _run(
    label: str,
    command: list[str],
    args: list[str],
    executor_input: Mapping[str, Any],
    log_path: str,
    env: Mapping[str, str] | None,
) -> None:
    serialized = json.dumps(executor_input, sort_keys=True)
    argv = [sys.executable if part == "python" else part for part in command]
    for arg in args:
        arg = arg.replace(EXECUTOR_INPUT_PLACEHOLDER, serialized)
        for key, parameter in executor_input["outputs"].get("parameters", {}).items():
            arg = arg.replace(OUTPUT_FILE_PLACEHOLDER.format(key), parameter["outputFile"])
        for key, value in executor_input["inputs"]["parameterValues"].items():
            arg = arg.replace(
                INPUT_PARAMETER_PLACEHOLDER.format(key), value if isinstance(value, str) else json.dumps(value)
            )
        argv.append(arg)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"===== {label}\n")
        log.flush()
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        with open(log_path, encoding="utf-8") as log:
            tail = "".join(log.readlines()[-30:])
        raise ReplayError(f"task {label} exited with {result.returncode}; log {log_path}:\n{tail}")


def _merge_outputs(executor_input: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The launcher's mergeRuntimeArtifacts: the executor's uri and metadata replace the planned ones."""
    planned = executor_input["outputs"]["artifacts"]
    output_file = executor_input["outputs"]["outputFile"]
    reported = {}
    if os.path.exists(output_file):  # a plain container task (no TFX executor) writes none
        with open(output_file, encoding="utf-8") as f:
            reported = json.load(f).get("artifacts", {})
    merged = {}
    for key, artifact_list in planned.items():
        artifacts = []
        for index, artifact in enumerate(artifact_list["artifacts"]):
            result = dict(artifact)
            reported_list = reported.get(key, {}).get("artifacts", [])
            if index < len(reported_list):
                result["uri"] = reported_list[index].get("uri") or artifact["uri"]
                result["metadata"] = reported_list[index].get("metadata", {})
            artifacts.append(result)
        merged[key] = artifacts
    return merged


def kfx_compile(argv: list[str]) -> int:
    """Runs `kfx compile` in-process with the given arguments (without the `compile` word); returns its exit code."""
    from kfx import cli

    return cli.main(["compile", *argv])
