"""Records a replay (kfp_replay.py) into an ML Metadata SQLite file the way the KFP v2 driver and launcher record a
run on the cluster, request for request, so that readers of KFP-written metadata can be tested without a cluster.

Follows kubeflow/pipelines `backend/src/v2` (the same in backend 2.0.0, 2.5.0, 2.14.0 and HEAD):
- `metadata/client.go` GetPipeline: a `system.Pipeline` context named after `pipelineInfo.name`, the parent of a
  `system.PipelineRun` context named by the run id, with the custom properties namespace, resource_name,
  pipeline_root (`<root>/<pipeline>/<run id>`) and store_session_info. Both types are schemaless.
- `driver/root_dag.go`: a `system.DAGExecution` named `run/<run id>` holding the run's parameters as `inputs`.
- `driver/container.go` + client.go CreateExecution: per task a `system.ContainerExecution` (RUNNING) in both
  contexts, with the custom properties display_name (`taskInfo.name`), task_name, parent_dag_id, pod_name,
  pod_uid, namespace, image, cache_fingerprint, cached_execution_id (on a cache hit) and `inputs` (parameter values),
  and one INPUT event per input artifact whose path is the input's name; input artifacts are named by MLMD id
  in the ExecutorInput (`GenerateExecutionConfig` parses `artifact.name` as the id).
- `component/launcher_v2.go` uploadOutputArtifacts + client.go RecordArtifact: after the executor, each output
  artifact (uri and metadata merged from the ExecutorOutput) becomes an artifact LIVE whose type is the title of
  its instance schema (`tfx.Examples`, schemaless), metadata as custom properties (converter.go
  StructValueToMLMDValue: strings, numbers as doubles, booleans as 0/1 ints, lists and structs wrapped in a struct)
  plus display_name (the output name) and store_session_info.
- client.go PublishExecution: the execution COMPLETE (or FAILED) with the output parameters as `outputs` and one
  OUTPUT event per output artifact, path = output name; a cache hit (driver `reuseCachedOutputs`) publishes
  CACHED with OUTPUT events to the artifacts of the execution it reuses.
Not recorded: the `executor-logs` artifact backends >= 2.5 add when they publish logs (kfp_replay.py does not
provision it), the pod updates of PrePublishExecution, and the DAG's task counters.

A task that receives the same artifact under two input names gets two INPUT events for one (artifact, execution),
which MLMD refuses (UNIQUE(artifact_id, execution_id, type) in its SQLite and MySQL schemas), so the driver's
CreateExecution fails; the recorder raises there too (TFX's DistributionValidator, given one statistics artifact as
`statistics` and `baseline_statistics`, did that; components/drift_gate/validator.py takes it once).
"""

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from google.protobuf import struct_pb2
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

PIPELINE, PIPELINE_RUN = "system.Pipeline", "system.PipelineRun"
CONTAINER_EXECUTION, DAG_EXECUTION = "system.ContainerExecution", "system.DAGExecution"
# objectstore.SessionInfo{} as json.Marshal writes it: local files have no provider.
SESSION_INFO = json.dumps({"Provider": "", "Params": None}, separators=(",", ":"))


@dataclasses.dataclass
class RecordedRun:
    """The contexts and root DAG execution of one run."""

    pipeline: mlmd.Context
    run: mlmd.Context
    root_dag: mlmd.Execution


class KfpMetadataRecorder:
    """Writes what the KFP driver and launcher would write for the tasks of a replay."""

    def __init__(self, path: str):
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self._context_types = {
            name: self.store.put_context_type(mlmd.ContextType(name=name)) for name in (PIPELINE, PIPELINE_RUN)
        }
        self._execution_types = {
            name: self.store.put_execution_type(mlmd.ExecutionType(name=name))
            for name in (CONTAINER_EXECUTION, DAG_EXECUTION)
        }

    def start_run(
        self, pipeline_name: str, run_id: str, pipeline_root: str, parameters: Mapping[str, Any]
    ) -> RecordedRun:
        """GetPipeline, then the root DAG's execution (driver/root_dag.go)."""
        pipeline = self._context(PIPELINE, pipeline_name, {})
        run = self._context(PIPELINE_RUN, run_id, {
            "namespace": "", "resource_name": "run-resource", "store_session_info": SESSION_INFO,
            "pipeline_root": f"{pipeline_root.rstrip('/')}/{pipeline_name}/{run_id}",
        })  # fmt: skip
        if not self.store.get_parent_contexts_by_context(run.id):
            self.store.put_parent_contexts([mlmd.ParentContext(child_id=run.id, parent_id=pipeline.id)])
        root_dag = mlmd.Execution(type_id=self._execution_types[DAG_EXECUTION], name=f"run/{run_id}")
        _set(root_dag.custom_properties, {"display_name": "", "task_name": "", "inputs": _struct(parameters)})
        return RecordedRun(pipeline, run, self._put_execution(root_dag, mlmd.Execution.RUNNING, [], [pipeline, run]))

    def create_execution(
        self,
        run: RecordedRun,
        task_name: str,
        task: Mapping[str, Any],
        container: Mapping[str, Any],
        executor_input: Mapping[str, Any],
        fingerprint: str,
        cached_execution_id: int | None = None,
    ) -> mlmd.Execution:
        """CreateExecution for a container task: RUNNING, with an INPUT event per input artifact (named by MLMD id)."""
        execution = mlmd.Execution(type_id=self._execution_types[CONTAINER_EXECUTION])
        _set(execution.custom_properties, {
            "display_name": task.get("taskInfo", {}).get("name", task_name), "task_name": task_name,
            "parent_dag_id": run.root_dag.id, "pod_name": f"{run.run.name}-{task_name}", "pod_uid": "",
            "namespace": "", "image": container.get("image", ""), "cache_fingerprint": fingerprint,
            "inputs": _struct(executor_input["inputs"]["parameterValues"]),
        })  # fmt: skip
        if cached_execution_id is not None:
            execution.custom_properties["cached_execution_id"].string_value = str(cached_execution_id)
        events = []
        for key, artifact_list in executor_input["inputs"]["artifacts"].items():
            for artifact in artifact_list["artifacts"]:
                events.append(_event(mlmd.Event.INPUT, key, int(artifact["name"])))
        return self._put_execution(execution, mlmd.Execution.RUNNING, events, [run.pipeline, run.run])

    def record_outputs(self, outputs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """RecordArtifact for each merged output artifact; returns them named by their new MLMD ids."""
        recorded = {}
        for key, artifact_list in outputs.items():
            recorded[key] = []
            for runtime_artifact in artifact_list:
                title = _schema_title(runtime_artifact["type"])
                artifact = mlmd.Artifact(
                    type_id=self.store.put_artifact_type(mlmd.ArtifactType(name=title)),
                    uri=runtime_artifact["uri"],
                    state=mlmd.Artifact.LIVE,
                )
                for name, value in runtime_artifact.get("metadata", {}).items():
                    artifact.custom_properties[name].CopyFrom(_mlmd_value(name, value))
                artifact.custom_properties["display_name"].string_value = key
                artifact.custom_properties["store_session_info"].string_value = SESSION_INFO
                (artifact_id,) = self.store.put_artifacts([artifact])
                recorded[key].append({**runtime_artifact, "name": str(artifact_id)})
        return recorded

    def publish(
        self,
        run: RecordedRun,
        execution: mlmd.Execution,
        state: int,
        outputs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        """PublishExecution: the final state, output parameters and an OUTPUT event per (recorded) output artifact."""
        if parameters is not None:
            execution.custom_properties["outputs"].struct_value.CopyFrom(_struct(parameters).struct_value)
        events = [
            _event(mlmd.Event.OUTPUT, key, int(artifact["name"]))
            for key, artifact_list in (outputs or {}).items()
            for artifact in artifact_list
        ]
        self._put_execution(execution, state, events, [run.pipeline, run.run])

    def finish_run(self, run: RecordedRun, state: int) -> None:
        """UpdateDAGExecutionsState: the root DAG ends with its tasks."""
        self._put_execution(run.root_dag, state, [], [])

    def _context(self, type_name: str, name: str, properties: Mapping[str, str]) -> mlmd.Context:
        context = self.store.get_context_by_type_and_name(type_name, name)
        if context is None:
            context = mlmd.Context(type_id=self._context_types[type_name], name=name)
            _set(context.custom_properties, properties)
            (context.id,) = self.store.put_contexts([context])
        return context

    def _put_execution(
        self, execution: mlmd.Execution, state: int, events: list[mlmd.Event], contexts: list[mlmd.Context]
    ) -> mlmd.Execution:
        execution.last_known_state = state
        # KFP sends events alone (no artifact) for artifacts that already have an id.
        execution_id, _, _ = self.store.put_execution(execution, [(None, e) for e in events], contexts)
        (stored,) = self.store.get_executions_by_id([execution_id])
        return stored


def _schema_title(artifact_type: Mapping[str, str]) -> str:
    """launcher getArtifactSchema + client SchemaToArtifactType: the `title` of the schema."""
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type["instanceSchema"])["title"]


def _mlmd_value(name: str, value: Any) -> mlmd.Value:
    """converter.go StructValueToMLMDValue; a null fails there too."""
    result = mlmd.Value()
    if isinstance(value, bool):
        result.int_value = int(value)
    elif isinstance(value, str):
        result.string_value = value
    elif isinstance(value, int | float):
        result.double_value = float(value)
    elif isinstance(value, list | dict):
        result.struct_value.update({"list" if isinstance(value, list) else "struct": value})
    else:
        raise ValueError(f"metadata '{name}': unknown/unsupported value type {type(value).__name__} (KFP rejects it)")
    return result


def _struct(values: Mapping[str, Any]) -> mlmd.Value:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return mlmd.Value(struct_value=struct)


def _set(properties: Any, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, mlmd.Value):
            properties[name].CopyFrom(value)
        elif isinstance(value, int):
            properties[name].int_value = value
        else:
            properties[name].string_value = value


def _event(kind: int, key: str, artifact_id: int) -> mlmd.Event:
    event = mlmd.Event(type=kind, artifact_id=artifact_id)
    event.path.steps.add().key = key
    return event
