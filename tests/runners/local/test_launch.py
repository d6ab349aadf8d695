"""runners/local/launch.py with the real LocalDagRunner and ML Metadata, on a pipeline of two tiny components: the run
is recorded with its code version before any node runs, under the run id chosen for it, and the node that reads
outside state (the id pipeline.pipeline.NEVER_CACHED names) runs again when everything else is reused."""

import os

from tfx import v1 as tfx
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import metadata
from tfx.types import standard_artifacts

from monitoring import store as store_lib
from pipeline import pipeline as pipeline_lib
from runners.local import launch

CODE = {store_lib.GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567", store_lib.GIT_DIRTY: "false"}


@component
def Train(model: OutputArtifact[standard_artifacts.Model]) -> None:
    with open(os.path.join(model.uri, "weights"), "w") as f:
        f.write("1")


@component
def ReadServed(
    model: InputArtifact[standard_artifacts.Model], served: OutputArtifact[standard_artifacts.Model]
) -> None:
    with open(os.path.join(served.uri, "seen"), "w") as f:
        f.write(model.uri)


def _pipeline(tmp_path) -> tfx.dsl.Pipeline:
    train = Train()
    (never_cached,) = pipeline_lib.NEVER_CACHED
    served = ReadServed(model=train.outputs["model"]).with_id(never_cached)
    return tfx.dsl.Pipeline(
        pipeline_name="launch-test",
        pipeline_root=str(tmp_path / "root"),
        components=[train, served],
        enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite")),
    )


def test_runs_are_recorded_with_their_code_first_and_the_outside_reader_never_comes_from_the_cache(tmp_path):
    metadata_path = str(tmp_path / "metadata.sqlite")
    run_ids = ["2026-01-01T00:00:00.000001", "2026-01-01T00:00:00.000002"]
    for run_id in run_ids:
        launch.run(_pipeline(tmp_path), metadata_path, run_id, CODE)

    store = store_lib.connect(metadata_path)
    runs = store_lib.pipeline_runs(store, "launch-test")
    assert [run.name for run in runs] == run_ids  # TFX recorded its executions in the contexts made beforehand
    for run in runs:
        assert store_lib.run_properties(store, run.name) == CODE
    first, second = (store_lib.run_record(store, run, "launch-test") for run in runs)
    assert first.states == {"Train": "COMPLETE", "ServingBaseline": "COMPLETE"}
    assert second.states == {"Train": "CACHED", "ServingBaseline": "COMPLETE"}


def test_a_run_recorded_before_it_starts_is_found_even_if_it_dies_before_its_first_node(tmp_path):
    metadata_path = str(tmp_path / "metadata.sqlite")
    store_lib.record_run(metadata_path, "launch-test", "2026-01-01T00:00:00.000003", CODE)
    store_lib.record_run(metadata_path, "launch-test", "2026-01-01T00:00:00.000004", CODE)  # a second pipeline run
    store = store_lib.connect(metadata_path)
    assert [run.name for run in store_lib.pipeline_runs(store, "launch-test")] == [
        "2026-01-01T00:00:00.000003",
        "2026-01-01T00:00:00.000004",
    ]


def test_the_compiled_run_has_its_id_everywhere_and_only_serving_baseline_is_uncached(taxi_config):
    tfx_pipeline = pipeline_lib.create_pipeline(
        taxi_config,
        pipeline_root="/tmp/root",
        data_path="/tmp/data",
        input_base="/tmp/data",
        input_pattern="span-*/*.csv",
        serving_model_dir="/tmp/serving/chicago_taxi",
    )
    ir = launch.compile_for_run(tfx_pipeline, "2026-01-01T00:00:00.000005")
    assert "runtime_parameter" not in str(ir) and "2026-01-01T00:00:00.000005" in str(ir)
    caching = {n.pipeline_node.node_info.id: n.pipeline_node.execution_options.caching_options for n in ir.nodes}
    assert {node for node, options in caching.items() if not options.enable_cache} == {"ServingBaseline"}
