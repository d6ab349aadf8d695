"""ML Metadata written by Kubeflow Pipelines v2, read in TFX's vocabulary so that lineage works on both.

On KFP the driver and launcher record every task, not TFX (kubeflow/pipelines `backend/src/v2/metadata/client.go`,
`converter.go`, `driver/container.go`, `component/launcher_v2.go`; the same from backend 2.0.0 to 2.14):
- contexts: `system.Pipeline` (named after the pipeline) is the parent of `system.PipelineRun` (named by the run id),
  where TFX writes `pipeline`, `pipeline_run` and a `node` context per component;
- executions: every task is a `system.ContainerExecution`; the task is named by the custom properties `task_name`
  and `display_name`, where TFX's execution type is the component's class path (`...pusher.component.Pusher`);
- artifacts: the type is the schema title of the output (`tfx.PushedModel`); the metadata the executor reported
  (TFX's properties and custom properties alike) become custom properties, numbers as doubles (`pushed` is 1.0);
- events: INPUT and OUTPUT events keyed by the input or output name, as TFX's; a cached task adds an OUTPUT event to
  the artifacts of the execution it reused, as TFX does.
`KfpView` answers the read calls of lineage, the run summary and `kfx board` with those names translated: context
types `pipeline`/`pipeline_run`, the task name as the execution type, `PushedModel` as the artifact type, and whole
doubles as ints.
"""

from collections.abc import Iterable, Sequence

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

# TFX's context type names (tfx.dsl.compiler.constants), spelt here: reading a store needs no TFX import.
TFX_PIPELINE_CONTEXT, TFX_RUN_CONTEXT = "pipeline", "pipeline_run"
PIPELINE_CONTEXT, PIPELINE_RUN_CONTEXT = "system.Pipeline", "system.PipelineRun"
CONTAINER_EXECUTION, DAG_EXECUTION = "system.ContainerExecution", "system.DAGExecution"
TASK_NAME, DISPLAY_NAME = "task_name", "display_name"
# KFP context type -> the TFX context type with the same role.
_CONTEXT_TYPES = {
    PIPELINE_CONTEXT: TFX_PIPELINE_CONTEXT,
    PIPELINE_RUN_CONTEXT: TFX_RUN_CONTEXT,
}
_KFP_CONTEXT_TYPES = {tfx: kfp for kfp, tfx in _CONTEXT_TYPES.items()}


def written_by_kfp(context_type_names: Iterable[str]) -> bool:
    """True when the store holds KFP's run contexts and none of TFX's."""
    names = set(context_type_names)
    return PIPELINE_RUN_CONTEXT in names and TFX_RUN_CONTEXT not in names


def node_name(execution: metadata_store_pb2.Execution) -> str:
    """The task a KFP container execution ran (`task_name`, else `display_name`); else its type."""
    if execution.type == CONTAINER_EXECUTION:
        for key in (TASK_NAME, DISPLAY_NAME):
            if execution.custom_properties[key].string_value:
                return execution.custom_properties[key].string_value
    return execution.type


class KfpView:
    """A read-only MetadataStore stand-in over a KFP-written store; only the calls the readers make."""

    def __init__(self, store: metadata_store.MetadataStore):
        self._store = store

    def get_context_types(self) -> list[metadata_store_pb2.ContextType]:
        renamed = []
        for context_type in self._store.get_context_types():
            copy = metadata_store_pb2.ContextType()
            copy.CopyFrom(context_type)
            copy.name = _CONTEXT_TYPES.get(context_type.name, context_type.name)
            renamed.append(copy)
        return renamed

    def get_contexts_by_type(self, type_name: str) -> list[metadata_store_pb2.Context]:
        return _contexts(self._store.get_contexts_by_type(_KFP_CONTEXT_TYPES.get(type_name, type_name)))

    def get_context_by_type_and_name(self, type_name: str, name: str) -> metadata_store_pb2.Context | None:
        context = self._store.get_context_by_type_and_name(_KFP_CONTEXT_TYPES.get(type_name, type_name), name)
        return _contexts([context])[0] if context is not None else None

    def get_parent_contexts_by_context(self, context_id: int) -> list[metadata_store_pb2.Context]:
        return _contexts(self._store.get_parent_contexts_by_context(context_id))

    def get_contexts_by_execution(self, execution_id: int) -> list[metadata_store_pb2.Context]:
        return _contexts(self._store.get_contexts_by_execution(execution_id))

    def get_executions_by_id(self, execution_ids: Sequence[int]) -> list[metadata_store_pb2.Execution]:
        return _executions(self._store.get_executions_by_id(execution_ids))

    def get_executions_by_context(self, context_id: int) -> list[metadata_store_pb2.Execution]:
        return _executions(self._store.get_executions_by_context(context_id))

    def get_events_by_artifact_ids(self, artifact_ids: Sequence[int]) -> list[metadata_store_pb2.Event]:
        return self._store.get_events_by_artifact_ids(artifact_ids)

    def get_events_by_execution_ids(self, execution_ids: Sequence[int]) -> list[metadata_store_pb2.Event]:
        return self._store.get_events_by_execution_ids(execution_ids)

    def get_artifacts_by_id(self, artifact_ids: Sequence[int]) -> list[metadata_store_pb2.Artifact]:
        return _artifacts(self._store.get_artifacts_by_id(artifact_ids))

    def get_artifacts_by_type(self, type_name: str) -> list[metadata_store_pb2.Artifact]:
        """Artifacts of the TFX type `type_name`: KFP names the type by schema title, `tfx.<name>` (or the class
        path of a custom type)."""
        titles = [t.name for t in self._store.get_artifact_types() if _short_name(t.name) == type_name]
        return _artifacts(a for title in titles for a in self._store.get_artifacts_by_type(title))


def _short_name(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def _contexts(contexts: Iterable[metadata_store_pb2.Context]) -> list[metadata_store_pb2.Context]:
    renamed = []
    for context in contexts:
        copy = metadata_store_pb2.Context()
        copy.CopyFrom(context)
        copy.type = _CONTEXT_TYPES.get(context.type, context.type)
        renamed.append(copy)
    return renamed


def _executions(executions: Iterable[metadata_store_pb2.Execution]) -> list[metadata_store_pb2.Execution]:
    renamed = []
    for execution in executions:
        copy = metadata_store_pb2.Execution()
        copy.CopyFrom(execution)
        copy.type = node_name(execution)
        renamed.append(copy)
    return renamed


def _artifacts(artifacts: Iterable[metadata_store_pb2.Artifact]) -> list[metadata_store_pb2.Artifact]:
    normalised = []
    for artifact in artifacts:
        copy = metadata_store_pb2.Artifact()
        copy.CopyFrom(artifact)
        copy.type = _short_name(artifact.type)
        for value in copy.custom_properties.values():
            # TFX reports its int properties as JSON numbers, which KFP stores as doubles.
            if value.WhichOneof("value") == "double_value" and value.double_value.is_integer():
                value.int_value = int(value.double_value)
        normalised.append(copy)
    return normalised
