"""monitoring/runs.py on a real SQLite ML Metadata holding runs of every outcome (written as `kfx run` and TFX write
them, tests/mlmd_records.py): each run's facts, checked against the store read directly, and the table."""

import json

import pytest
from mlmd_records import CODE, PIPELINE, Records, states_until

from monitoring import runs as runs_lib
from monitoring import store as store_lib

CONFIG = {store_lib.CONFIG_PATH: "/configs/chicago_taxi.yaml", store_lib.CONFIG_SHA256: "c0" * 32}
ALL_DONE = states_until("Pusher", "COMPLETE")
# Run id -> (outcome, words of its detail), oldest first, as the fixture writes them.
EXPECTED = {
    "2026-12-01T10:00:00.000001": (runs_lib.PUSHED, "version 1700000001"),
    "2026-12-01T11:00:00.000001": (runs_lib.NOT_BLESSED, "the served model stays"),
    "2026-12-01T12:00:00.000001": (runs_lib.NOT_PUSHED, "version 1700000001 already holds the same model"),
    "2026-12-01T13:00:00.000001": (runs_lib.BLOCKED, "data: DataGate stopped the run"),
    "2026-12-01T14:00:00.000001": (runs_lib.BLOCKED, "drift: DriftStop stopped the run"),
    "2026-12-01T15:00:00.000001": (runs_lib.FAILED, "Trainer failed (see the run's log)"),
    "2026-12-01T16:00:00.000001": (runs_lib.INTERRUPTED, "ended during Trainer"),  # marked CANCELED by recovery
    "2026-12-01T17:00:00.000001": (runs_lib.INTERRUPTED, "ended during Evaluator"),  # still RUNNING: not recovered
}


@pytest.fixture
def workspace(tmp_path) -> dict:
    """A workspace with one run of each outcome (EXPECTED), the first one before config hashes were recorded."""
    paths = {"metadata": str(tmp_path / "metadata.sqlite"), "logs": str(tmp_path / "logs")}
    records = Records(paths["metadata"], str(tmp_path / "serving_model"), paths["logs"])
    ids = list(EXPECTED)
    with_config = {**CODE, **CONFIG}
    records.run(ids[0], ALL_DONE, spans=(1,), fingerprint="a" * 64, blessed=True, pushed_version="1700000001",
                properties=CODE, metrics={"auc": 0.91, "binary_accuracy": 0.87, "precision": 0.5})  # fmt: skip
    records.run(ids[1], ALL_DONE, spans=(1, 2), fingerprint="b" * 64, blessed=False, properties=with_config,
                metrics={"auc": 0.55, "binary_accuracy": 0.61})  # fmt: skip
    records.run(ids[2], ALL_DONE, blessed=True, identical_to=1700000001, properties=with_config)
    records.run(ids[3], states_until("DataGate", "FAILED"), spans=(1, 2, 3), properties=with_config)
    records.run(ids[4], states_until("DriftStop", "FAILED"), spans=(1, 2, 3), properties=with_config)
    records.run(ids[5], states_until("Trainer", "FAILED"), properties=with_config)
    records.run(ids[6], states_until("Trainer", "CANCELED"), properties=with_config)
    records.run(ids[7], states_until("Evaluator", "RUNNING"), properties={})  # died before recording its code
    return paths


def _listed(paths: dict, in_progress: bool = False) -> list[runs_lib.Run]:
    return runs_lib.list_runs(store_lib.connect(paths["metadata"]), paths["logs"], in_progress)


def test_every_run_newest_first_with_its_outcome(workspace):
    listed = _listed(workspace)
    assert [run.run_id for run in listed] == list(reversed(EXPECTED))
    assert {run.run_id: (run.outcome, run.detail) for run in listed} == EXPECTED
    assert {run.pipeline for run in listed} == {PIPELINE}
    pushed = [run.run_id for run in listed if run.pushed_version]
    assert pushed == ["2026-12-01T10:00:00.000001"] and listed[-1].pushed_version == "1700000001"


def test_the_facts_are_those_ml_metadata_holds(workspace):
    store = store_lib.connect(workspace["metadata"])
    for run in _listed(workspace):
        context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run.run_id)
        recorded = {name: value.string_value for name, value in context.custom_properties.items()}
        assert run.git_commit == recorded.get(store_lib.GIT_COMMIT), run.run_id
        assert run.config_sha256 == recorded.get(store_lib.CONFIG_SHA256), run.run_id
        executions = store.get_executions_by_context(context.id)
        assert len(run.states) == len(executions) > 0
        last = max(e.last_update_time_since_epoch for e in executions)
        assert run.duration_seconds == (last - context.create_time_since_epoch) / 1000 >= 0
        examples = [a for a in store.get_artifacts_by_context(context.id) if a.type == "Examples"]
        spans = examples[0].custom_properties["window_spans"].string_value
        assert run.spans == [int(span) for span in spans.split(",")]
        assert run.data_fingerprint == examples[0].custom_properties["window_fingerprint"].string_value
    first = _listed(workspace)[-1]
    assert first.config_sha256 is None and first.git_commit == CODE[store_lib.GIT_COMMIT] and first.git_dirty is False
    unrecorded = _listed(workspace)[0]
    assert unrecorded.git_commit is None and unrecorded.git_dirty is None


def test_metrics_come_from_the_run_summaries(workspace):
    with open(f"{workspace['logs']}/run-20261201-120000.summary.json", "w") as f:
        f.write('{"run_id": "2026-12-01T12:00:00.000001", "metr')  # cut short by a full disk: skipped
    by_id = {run.run_id: run for run in _listed(workspace)}
    assert by_id["2026-12-01T10:00:00.000001"].metrics == {"auc": 0.91, "binary_accuracy": 0.87}
    assert by_id["2026-12-01T11:00:00.000001"].metrics == {"auc": 0.55, "binary_accuracy": 0.61}
    assert by_id["2026-12-01T12:00:00.000001"].metrics == {}  # wrote no summary


def test_the_run_holding_the_workspace_is_running_and_only_it(workspace):
    listed = _listed(workspace, in_progress=True)
    assert (listed[0].outcome, listed[0].detail) == (runs_lib.RUNNING, "Evaluator running")
    assert [run.outcome for run in listed[1:]] == [EXPECTED[run.run_id][0] for run in listed[1:]]


def test_a_run_with_no_execution_yet(tmp_path):
    metadata = str(tmp_path / "metadata.sqlite")
    store_lib.record_run(metadata, PIPELINE, "2026-12-02T10:00:00.000001", CODE)
    (run,) = runs_lib.list_runs(store_lib.connect(metadata), str(tmp_path / "logs"))
    assert (run.outcome, run.duration_seconds, run.spans) == (runs_lib.INTERRUPTED, None, [])
    (live,) = runs_lib.list_runs(store_lib.connect(metadata), str(tmp_path / "logs"), in_progress=True)
    assert live.outcome == runs_lib.RUNNING


@pytest.mark.parametrize(
    "states, facts, expected",
    [
        (states_until("Pusher", "CACHED", before="CACHED"), {"pushed": True, "pushed_version": "7"},
         (runs_lib.NOT_PUSHED, "every step reused from an earlier run, which pushed version 7")),
        ({"DataGate": "FAILED", "Trainer": "FAILED"}, {}, (runs_lib.BLOCKED, "data: DataGate stopped the run")),
        (states_until("Evaluator", "COMPLETE"), {}, (runs_lib.INTERRUPTED, "ended after Evaluator, before the Pusher")),
        (states_until("Pusher", "COMPLETE"), {}, (runs_lib.NOT_PUSHED, "the Pusher pushed nothing")),
    ],
)  # fmt: skip
def test_outcome_rules(states, facts, expected):
    given = {"pushed": False, "pushed_version": None, "identical_to": None, "blessed": None, "live": False, **facts}
    assert runs_lib.decide_outcome(states, **given) == expected


def test_the_table_and_json(workspace):
    listed = _listed(workspace)
    lines = runs_lib.format_runs(listed).splitlines()
    assert lines[0].split() == ["RUN", "STARTED", "TOOK", "OUTCOME", "SPANS", "DATA", "CONFIG", "COMMIT", "AUC",
                                "ACCURACY", "PUSHED"]  # fmt: skip
    by_id = {line.split()[0]: line for line in lines[1 : len(listed) + 1]}
    first = by_id["2026-12-01T10:00:00.000001"].split()
    assert first[4:] == ["pushed", "1", "aaaaaaaaaa", "-", "0123456789", "0.9100", "0.8700", "1700000001"]
    assert "blocked (drift)" in by_id["2026-12-01T14:00:00.000001"]
    assert "1-3" in by_id["2026-12-01T13:00:00.000001"] and "c0c0c0c0c0" in by_id["2026-12-01T13:00:00.000001"]
    assert "2026-12-01T16:00:00.000001: interrupted: ended during Trainer" in lines
    document = json.loads(json.dumps([run.to_dict() for run in listed]))
    assert document[-1]["metrics"] == {"auc": 0.91, "binary_accuracy": 0.87} and document[0]["config_sha256"] is None
    assert runs_lib.format_runs([]).startswith("no runs recorded")


def test_run_properties_come_back_as_written_backslashes_included(tmp_path):
    """A configuration's text may hold backslashes (a regular expression), which PostgreSQL's ML Metadata cannot
    write as they are: they are stored encoded and read back unchanged."""
    metadata_path = str(tmp_path / "metadata.sqlite")
    text = 'missing_values: ["\\\\N", "n/a"]  # a regex: \\d+\n'
    store_lib.record_run(metadata_path, PIPELINE, "run-1", {store_lib.CONFIG_TEXT: text, "plain": "base64 is a word"})
    store = store_lib.connect(metadata_path)
    assert store_lib.run_properties(store, "run-1") == {store_lib.CONFIG_TEXT: text, "plain": "base64 is a word"}
    (context,) = store.get_contexts_by_type(store_lib.RUN_CONTEXT)
    assert "\\" not in context.custom_properties[store_lib.CONFIG_TEXT].string_value
