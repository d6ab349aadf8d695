"""What a killed or interrupted `kfx run` leaves behind, found and put right by the next run.

TFX 1.16's LocalDagRunner registers each execution as RUNNING, runs the executor in-process, and only then
publishes it: COMPLETE with its output artifacts, or FAILED after removing its output folders. A run killed in
between (kill -9, a crash, or Ctrl-C, which skips both) leaves the execution RUNNING and its output folders
`<pipeline root>/<node>/<output>/<execution id>/` half-written. They block nothing in TFX: each run has its own
pipeline_run context, the cache only reuses successful executions, and the outputs were never registered as
artifacts. But reports and lineage would show the execution as still running, and the folders fill the disk. Called
while holding the workspace lock, when no other run of this workspace can be live: every such execution of this
workspace's runs belongs to a dead run. Runs of other workspaces that share a database store may be live: an
execution counts as this workspace's when its run recorded this pipeline root (monitoring.store.PIPELINE_ROOT), or,
in a SQLite file, when its run recorded none (runs of kfx before the property; a SQLite file has one workspace).
"""

import dataclasses
import os
import shutil

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from monitoring import connection
from monitoring import store as store_lib

_UNFINISHED = "last_known_state = NEW OR last_known_state = RUNNING"
# Custom property set on a recovered execution, saying what happened to it.
RECOVERED_PROPERTY = "kfx_recovered"
# TFX's layout under each node's folder (tfx/orchestration/portable/outputs_utils.py).
_SYSTEM_DIR = ".system"
_EXECUTOR_DIR = os.path.join(_SYSTEM_DIR, "executor_execution")
_STATEFUL_DIR = os.path.join(_SYSTEM_DIR, "stateful_working_dir")


@dataclasses.dataclass(frozen=True)
class Interrupted:
    """An execution a dead run left unfinished, now marked CANCELED."""

    node: str
    execution_id: int
    run_id: str


def recover(metadata: str, pipeline_root: str) -> list[Interrupted]:
    """Marks every unfinished execution of this workspace (`pipeline_root`) CANCELED and removes its partial
    outputs; returns what it found."""
    target = connection.parse(metadata)
    if not target.exists():
        return []
    store = connection.open_store(target, writable=True)
    found = []
    for execution in store.get_executions(list_options=metadata_store.ListOptions(filter_query=_UNFINISHED)):
        execution_contexts = store.get_contexts_by_execution(execution.id)
        if not _ours(execution_contexts, pipeline_root, target.is_file):
            continue  # a run of another workspace sharing the store, maybe live
        contexts = {context.type: context.name for context in execution_contexts}
        node = contexts.get("node", "").removeprefix(contexts.get("pipeline", "") + ".")
        if node:
            _remove_outputs(os.path.join(pipeline_root, node), execution.id)
        # Marked last: a recovery that is itself killed is simply done again by the next run.
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties[RECOVERED_PROPERTY].string_value = "its run ended before it finished"
        store.put_executions([execution])
        found.append(Interrupted(node or execution.type, execution.id, contexts.get("pipeline_run", "")))
    return found


def _ours(contexts: list[metadata_store_pb2.Context], pipeline_root: str, single_workspace: bool) -> bool:
    """Whether an execution in `contexts` belongs to a run of the workspace whose artifacts go to `pipeline_root`."""
    for context in contexts:
        if context.type == store_lib.RUN_CONTEXT:
            if store_lib.PIPELINE_ROOT not in context.custom_properties:
                return single_workspace
            return context.custom_properties[store_lib.PIPELINE_ROOT].string_value == pipeline_root
    return single_workspace


def _remove_outputs(node_dir: str, execution_id: int) -> None:
    """Removes `<node>/<output>/<id>/`, `<node>/.system/executor_execution/<id>/` and the node's working folders.

    TFX gives every execution a fresh stateful working folder and removes it on success, so with no run live the
    ones left are all dead executions'.
    """
    if not os.path.isdir(node_dir):
        return
    paths = [os.path.join(node_dir, name, str(execution_id)) for name in os.listdir(node_dir) if name != _SYSTEM_DIR]
    paths += [os.path.join(node_dir, _EXECUTOR_DIR, str(execution_id)), os.path.join(node_dir, _STATEFUL_DIR)]
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)  # absent when the kill came before the executor created it
