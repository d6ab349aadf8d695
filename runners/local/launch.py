"""Starts a pipeline on LocalDagRunner with a run id chosen here, the code version recorded before any node runs, and
the nodes that read outside state never taken from the cache.

LocalDagRunner names a run by the time it starts (`datetime.now().isoformat()`) when it gets a Pipeline. Given the
compiled IR with that id already in place, it runs it as it is: so the run's `pipeline_run` context can be created
first, carrying the git commit, and every execution, including those of a run killed before its end and reused by
the next, is recorded under a run that names its code.

On PostgreSQL, ML Metadata 1.16 cannot write a string that holds a backslash (it quotes it as `'E'...'`, a syntax
error), and TFX records a failed component's error as JSON, whose quotes and newlines are backslash escapes: the
failure itself would then fail, and hide the component's error. `storable_results` keeps those records free of
backslashes.
"""

import contextlib
import json
import logging
import re
from collections.abc import Iterator

from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import pipeline as tfx_pipeline_lib
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.orchestration.portable.mlmd import execution_lib
from tfx.proto.orchestration import pipeline_pb2

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
    with storable_results() if postgresql else contextlib.nullcontext():
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
