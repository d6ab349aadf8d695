"""ML Metadata access shared by the summary, lineage, report and monitor: one run's executions and outputs."""

import base64
import dataclasses
import os
from typing import Any

from ml_metadata import errors, metadata_store
from ml_metadata.proto import metadata_store_pb2

from monitoring import connection, kfp_metadata

RUN_CONTEXT, PIPELINE_CONTEXT = kfp_metadata.TFX_RUN_CONTEXT, kfp_metadata.TFX_PIPELINE_CONTEXT
NODE_CONTEXT = "node"  # TFX's too (tfx.dsl.compiler.constants)
# Recorded on each run's context by `kfx run`: the code that ran.
GIT_COMMIT, GIT_DIRTY = "git_commit", "git_dirty"
# Also recorded by `kfx run`: the configuration file it read and its sha256 (runs before this was recorded lack both).
CONFIG_PATH, CONFIG_SHA256 = "config_path", "config_sha256"
# And the configuration file's text, so `kfx compare` can show what changed between two runs (older runs lack it).
CONFIG_TEXT = "config_text"
# A longer file is recorded cut to this many characters (a configuration file is a few KB).
CONFIG_TEXT_LIMIT = 200_000
# Also recorded by `kfx run`: the workspace's artifact folder, which tells the runs of workspaces sharing a store apart.
PIPELINE_ROOT = "pipeline_root"
GRPC_SCHEME = connection.GRPC_SCHEME
GRPC_TIMEOUT_SECONDS = connection.GRPC_TIMEOUT_SECONDS
MetadataUnavailable = connection.MetadataUnavailable
grpc_address = connection.grpc_address
describe = connection.describe


@dataclasses.dataclass
class RunRecord:
    """One pipeline run in MLMD: each node's execution and its output artifacts by key."""

    run_id: str
    states: dict[str, str]
    outputs: dict[str, dict[str, list[metadata_store_pb2.Artifact]]]

    def output(self, node_id: str, key: str) -> metadata_store_pb2.Artifact | None:
        artifacts = self.outputs.get(node_id, {}).get(key)
        return artifacts[0] if artifacts else None


def connect(target: "str | connection.Target") -> metadata_store.MetadataStore | kfp_metadata.KfpView:
    """Opens ML Metadata read-only (connection.open_store): a SQLite file, a MySQL/MariaDB or PostgreSQL database,
    or `grpc://host:port`, the MLMD service of Kubeflow Pipelines.

    Records written by TFX (LocalDagRunner) come back as a MetadataStore; records written by the KFP v2 driver and
    launcher come back as a `kfp_metadata.KfpView` of it, which speaks TFX's names. MetadataUnavailable when the
    target is malformed, missing, or does not answer.
    """
    store = connection.open_store(target)
    try:
        context_types = [context_type.name for context_type in store.get_context_types()]
    except errors.StatusError as error:
        raise MetadataUnavailable(f"cannot read ML Metadata at {target}: {describe(error)}") from None
    return kfp_metadata.KfpView(store) if kfp_metadata.written_by_kfp(context_types) else store


def pipeline_runs(store: metadata_store.MetadataStore, pipeline_name: str) -> list[metadata_store_pb2.Context]:
    """The run contexts of `pipeline_name`, oldest first."""
    runs = [
        context
        for context in store.get_contexts_by_type(RUN_CONTEXT)
        if any(parent.name == pipeline_name for parent in store.get_parent_contexts_by_context(context.id))
    ]
    return sorted(runs, key=lambda c: c.create_time_since_epoch)


def latest_run(store: metadata_store.MetadataStore, pipeline_name: str, since_ms: int = 0) -> RunRecord | None:
    """The most recent run of `pipeline_name` started at or after `since_ms` (epoch milliseconds), or None."""
    runs = [c for c in pipeline_runs(store, pipeline_name) if c.create_time_since_epoch >= since_ms]
    return run_record(store, runs[-1], pipeline_name) if runs else None


def run_record(
    store: metadata_store.MetadataStore, context: metadata_store_pb2.Context, pipeline_name: str
) -> RunRecord:
    """The executions and output artifacts of one run context."""
    executions = store.get_executions_by_context(context.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    outputs_only = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in outputs_only}))}
    node_ids = {e.id: node_id(store, e, pipeline_name) for e in executions}
    states = {node_ids[e.id]: metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in executions}
    outputs: dict[str, dict[str, list[metadata_store_pb2.Artifact]]] = {}
    for event in outputs_only:
        node_outputs = outputs.setdefault(node_ids[event.execution_id], {})
        node_outputs.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    return RunRecord(context.name, states, outputs)


def node_id(store: metadata_store.MetadataStore, execution: Any, pipeline_name: str) -> str:
    node_types = {t.id for t in store.get_context_types() if t.name == NODE_CONTEXT}
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id in node_types:
            return context.name.removeprefix(f"{pipeline_name}.")
    return execution.type.rsplit(".", 1)[-1]


def custom(artifact: metadata_store_pb2.Artifact | None, name: str) -> Any:
    """A custom property of the artifact (or a property of its type, such as Examples' `span`), else None."""
    if artifact is not None and name not in artifact.custom_properties and name in artifact.properties:
        value = artifact.properties[name]
        return getattr(value, value.WhichOneof("value"))
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def code_version(directory: str) -> dict[str, str]:
    """The git commit of the code in `directory` and whether it has uncommitted changes ("unknown" outside git)."""
    import subprocess

    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise OSError(result.stderr.strip())
        return result.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = "true" if git("status", "--porcelain", "--untracked-files=no") else "false"
    except (OSError, subprocess.SubprocessError):
        return {GIT_COMMIT: "unknown", GIT_DIRTY: "unknown"}
    return {GIT_COMMIT: commit, GIT_DIRTY: dirty}


def config_version(path: str) -> dict[str, str]:
    """The configuration file's absolute path and the sha256 of its bytes: equal hashes, the same configuration file
    (overrides on the command line, such as --train-steps, are not in it)."""
    import hashlib

    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {CONFIG_PATH: os.path.abspath(path), CONFIG_SHA256: digest}


def config_text(path: str) -> dict[str, str]:
    """The configuration file's text (up to CONFIG_TEXT_LIMIT characters), recorded beside its sha256."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return {CONFIG_TEXT: f.read(CONFIG_TEXT_LIMIT)}


def record_run(target: "str | connection.Target", pipeline_name: str, run_id: str, properties: dict[str, str]) -> None:
    """Creates the `pipeline_run` context of a run about to start (under its `pipeline` context) with custom
    properties, such as the code version: every execution of the run, even of a run killed later, then has them.

    TFX finds the context by type and name when its first node starts and records its executions in it.
    """
    store = connection.open_store(target, writable=True)
    contexts = []
    for type_name, name in ((PIPELINE_CONTEXT, pipeline_name), (RUN_CONTEXT, run_id)):
        context = store.get_context_by_type_and_name(type_name, name)
        if context is None:
            type_id = store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
            context = metadata_store_pb2.Context(type_id=type_id, name=name)
        contexts.append(context)
    pipeline, run = contexts
    for name, value in properties.items():
        run.custom_properties[name].string_value = _storable(value)
    pipeline.id, run.id = store.put_contexts([pipeline, run])
    # TFX links a run to its pipeline only when it creates the run's context itself.
    try:
        store.put_parent_contexts([metadata_store_pb2.ParentContext(parent_id=pipeline.id, child_id=run.id)])
    except errors.AlreadyExistsError:
        pass


def run_properties(store: metadata_store.MetadataStore, run_id: str) -> dict[str, str]:
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        return {}
    return {name: _stored(value.string_value) for name, value in context.custom_properties.items()}


# ML Metadata 1.16 cannot write a string holding a backslash to PostgreSQL (runners/local/launch.py): a run property
# that has one (a configuration file's text may) is recorded in base64 on every store, behind this prefix.
_BASE64 = "base64:"


def _storable(value: str) -> str:
    return _BASE64 + base64.b64encode(value.encode("utf-8")).decode("ascii") if "\\" in value else value


def _stored(value: str) -> str:
    return base64.b64decode(value[len(_BASE64) :]).decode("utf-8") if value.startswith(_BASE64) else value
