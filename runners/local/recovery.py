"""What a killed or interrupted `kfx run` leaves behind, found and put right by the next run.

TFX 1.16's LocalDagRunner registers each execution as RUNNING, runs the executor in-process, and only then
publishes it: COMPLETE with its output artifacts, or FAILED after removing its output folders. A run killed in
between (kill -9, a crash, or Ctrl-C, which skips both) leaves the execution RUNNING and its output folders
`<pipeline root>/<node>/<output>/<execution id>/` half-written. They block nothing in TFX: each run has its own
pipeline_run context, the cache only reuses successful executions, and the outputs were never registered as
artifacts. But reports and lineage would show the execution as still running, and the folders fill the disk. Called
while holding the workspace lock, when no other run can be live: every such execution belongs to a dead run.
"""

import dataclasses
import os
import shutil

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

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


def recover(metadata_path: str, pipeline_root: str) -> list[Interrupted]:
    """Marks every unfinished execution CANCELED and removes its partial outputs; returns what it found."""
    if not os.path.isfile(metadata_path):
        return []
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = metadata_store.MetadataStore(config)
    found = []
    for execution in store.get_executions(list_options=metadata_store.ListOptions(filter_query=_UNFINISHED)):
        contexts = {context.type: context.name for context in store.get_contexts_by_execution(execution.id)}
        node = contexts.get("node", "").removeprefix(contexts.get("pipeline", "") + ".")
        if node:
            _remove_outputs(os.path.join(pipeline_root, node), execution.id)
        # Marked last: a recovery that is itself killed is simply done again by the next run.
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties[RECOVERED_PROPERTY].string_value = "its run ended before it finished"
        store.put_executions([execution])
        found.append(Interrupted(node or execution.type, execution.id, contexts.get("pipeline_run", "")))
    return found


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
