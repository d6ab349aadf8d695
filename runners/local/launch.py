"""Starts a pipeline on LocalDagRunner with a run id chosen here, the code version recorded before any node runs, and
the nodes that read outside state never taken from the cache.

LocalDagRunner names a run by the time it starts (`datetime.now().isoformat()`) when it gets a Pipeline. Given the
compiled IR with that id already in place, it runs it as it is: so the run's `pipeline_run` context can be created
first, carrying the git commit, and every execution, including those of a run killed before its end and reused by
the next, is recorded under a run that names its code.

On PostgreSQL, ML Metadata 1.16 cannot write a string that holds a backslash (it quotes it as `'E'...'`, a syntax
error), and TFX records a failed component's error as JSON, whose quotes and newlines are backslash escapes: the
failure itself would then fail, and hide the component's error. `storable_results` keeps those records free of
backslashes. And TFX 1.16 pairs a cached execution's output events with its artifacts and their types by position,
which only holds while the store returns rows in the order asked (SQLite does; PostgreSQL does not, once rows were
updated): a cached Transform then lost its transform_graph. `paired_cached_outputs` pairs them by id.
"""

import collections
import contextlib
import json
import logging
import re
from collections.abc import Iterator

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import pipeline as tfx_pipeline_lib
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import cache_utils, runtime_parameter_utils
from tfx.orchestration.portable.mlmd import execution_lib
from tfx.proto.orchestration import pipeline_pb2
from tfx.types import artifact_utils

from monitoring import store as store_lib
from pipeline import pipeline as pipeline_lib


def compile_for_run(tfx_pipeline: tfx_pipeline_lib.Pipeline, run_id: str) -> pipeline_pb2.Pipeline:
    """The pipeline's IR with `run_id` as its run id and caching off for `pipeline_lib.NEVER_CACHED` nodes."""
    ir = compiler.Compiler().compile(tfx_pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in pipeline_lib.NEVER_CACHED:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def run(tfx_pipeline: tfx_pipeline_lib.Pipeline, metadata: str, run_id: str, code: dict[str, str]) -> None:
    """Records the run with `code` (store.code_version, store.config_version) in ML Metadata (`metadata`, a
    monitoring.connection target: the one of the pipeline's metadata_connection_config), then runs every node of
    the pipeline."""
    ir = compile_for_run(tfx_pipeline, run_id)
    store_lib.record_run(metadata, tfx_pipeline.pipeline_info.pipeline_name, run_id, code)
    postgresql = metadata.startswith("postgresql://")
    with paired_cached_outputs(), storable_results() if postgresql else contextlib.nullcontext():
        local_dag_runner.LocalDagRunner().run_with_ir(ir)


_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what JSON writes with a backslash (kept out: ensure_ascii=False)


def _plain(value):
    """`value` (parsed JSON) with every string free of the characters JSON escapes: " and \\ become ' and /."""
    if isinstance(value, str):
        return _ESCAPED.sub(lambda match: {'"': "'", "\\": "/"}.get(match.group(), " "), value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def _outputs_of_execution(metadata_handle, execution_id: int):
    """TFX's cache_utils._get_outputs_of_execution (the outputs of a successful execution to reuse, None when one of
    them is not LIVE), with each output event paired with its own artifact and type by id."""
    store = metadata_handle.store
    output = metadata_store_pb2.Event.OUTPUT
    events = [event for event in store.get_events_by_execution_ids([execution_id]) if event.type == output]
    events.sort(key=lambda event: ([(step.key, step.index) for step in event.path.steps], event.artifact_id))
    artifacts = {artifact.id: artifact for artifact in store.get_artifacts_by_id([e.artifact_id for e in events])}
    if any(artifact.state != metadata_store_pb2.Artifact.LIVE for artifact in artifacts.values()):
        return None  # a partial result
    type_ids = sorted({artifact.type_id for artifact in artifacts.values()})
    types = {artifact_type.id: artifact_type for artifact_type in store.get_artifact_types_by_id(type_ids)}
    result = collections.defaultdict(list)
    for event in events:
        artifact = artifacts[event.artifact_id]
        result[event.path.steps[0].key].append(artifact_utils.deserialize_artifact(types[artifact.type_id], artifact))
    return result


@contextlib.contextmanager
def paired_cached_outputs() -> Iterator[None]:
    """While inside: TFX's cache reads a cached execution's outputs with `_outputs_of_execution`."""
    original = cache_utils._get_outputs_of_execution  # noqa: SLF001 - the one function to replace
    cache_utils._get_outputs_of_execution = _outputs_of_execution  # noqa: SLF001
    try:
        yield
    finally:
        cache_utils._get_outputs_of_execution = original  # noqa: SLF001


@contextlib.contextmanager
def storable_results() -> Iterator[None]:
    """While inside: TFX records an execution's result (a failed component's error) as JSON without a backslash,
    and logs the error as it was."""
    original = execution_lib.set_execution_result

    def set_storable(execution_result, execution) -> None:
        original(execution_result, execution)
        recorded = execution.custom_properties.get(execution_lib._EXECUTION_RESULT)  # noqa: SLF001 - TFX's key
        if recorded is not None and "\\" in recorded.string_value:
            logging.error("Execution %d result: %s", execution.id, execution_result.result_message)
            plain = json.dumps(_plain(json.loads(recorded.string_value)), ensure_ascii=False, indent=2)
            execution.custom_properties[execution_lib._EXECUTION_RESULT].string_value = plain  # noqa: SLF001

    execution_lib.set_execution_result = set_storable
    try:
        yield
    finally:
        execution_lib.set_execution_result = original
