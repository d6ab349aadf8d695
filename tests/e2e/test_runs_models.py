"""`kfx runs` and `kfx models` on the records of real runs: the session's stages up to the drifted span 3 (a cold run
pushed, a rerun that pushed nothing new, a weak candidate refused, a proper one pushed, a drifted span blocked), each
fact checked against what the run printed, its summary, its configuration file and ML Metadata read directly."""

import hashlib
import json
import os
import re

import pytest
from conftest import (
    SPAN_2_CSV,
    next_stage,
    printed_run_id,
    run_kfx,
    run_pipeline,
    run_summary,
    runs_the_pipeline,
    write_span,
)

pytestmark = pytest.mark.e2e


def _kfx_json(*args: str):
    result = run_kfx(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _inflate_fares(index, row):
    row["fare"] = str(float(row["fare"] or 0) * 10)  # as test_local_pipeline's drifted span 3
    return row


@pytest.fixture(scope="module")
@runs_the_pipeline
def span_3_drifted(span_2_pushed, tmp_path_factory) -> dict:
    """The pushed span 2 stage copied with a span 3 of fares x10, and its run ("run"): the drift check stops it."""
    project = next_stage(span_2_pushed, tmp_path_factory.mktemp("registry-span-3-drifted"), new_data=True)
    write_span(project, 3, SPAN_2_CSV, 3000, _inflate_fares)
    return {**project, "run": run_pipeline(project)}


@pytest.fixture(scope="module")
def stages(e2e_project, e2e_span_1, span_2_refused, span_2_pushed, span_3_drifted) -> list[tuple]:
    """(the run's CompletedProcess, the config it ran with), oldest first: every run in span_3_drifted's workspace."""
    return [
        (e2e_span_1["first"], e2e_project["config"]),
        (e2e_span_1["rerun"], e2e_project["config"]),
        (span_2_refused["run"], span_2_refused["config"]),
        (span_2_pushed["run"], span_2_pushed["config"]),
        (span_3_drifted["run"], span_3_drifted["config"]),
    ]


def test_kfx_runs_lists_every_real_run_with_its_outcome_and_facts(stages, span_3_drifted):
    from monitoring import store as store_lib

    listed = _kfx_json("runs", "--workspace", span_3_drifted["workspace"])
    assert len(listed) == len(stages)
    oldest_first = list(reversed(listed))
    assert [run["outcome"] for run in oldest_first] == ["pushed", "not pushed", "not blessed", "pushed", "blocked"]
    assert oldest_first[-1]["detail"].startswith("drift: DriftStop")
    store = store_lib.connect(os.path.join(span_3_drifted["workspace"], "metadata.sqlite"))
    for run, (result, config) in zip(oldest_first[:-1], stages[:-1], strict=True):
        summary = run_summary(result)
        assert run["run_id"] == printed_run_id(result) == summary["run_id"]
        assert run["spans"] == summary["spans"] and run["pushed_version"] == summary["pushed_version"]
        assert run["metrics"] == {name: summary["metrics"][name] for name in ("auc", "binary_accuracy")}
        assert run["config_sha256"] == _sha256(config)
        context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run["run_id"])
        assert run["git_commit"] == context.custom_properties[store_lib.GIT_COMMIT].string_value
        executions = store.get_executions_by_context(context.id)
        assert len(run["states"]) == len(executions) and run["duration_seconds"] > 0
    blocked = oldest_first[-1]
    assert blocked["config_sha256"] == _sha256(stages[-1][1]) and blocked["spans"] == [1, 2, 3]
    assert blocked["pushed_version"] is None and blocked["metrics"] == {}  # a blocked run's summary has none
    assert oldest_first[1]["detail"] == f"version {oldest_first[0]['pushed_version']} already holds the same model"
    fingerprints = [run["data_fingerprint"] for run in oldest_first]
    assert fingerprints[0] == fingerprints[1] != fingerprints[2] == fingerprints[3] != fingerprints[4]


def test_kfx_models_lists_both_pushed_versions(stages, span_3_drifted, tmp_path):
    registry = _kfx_json("models", "--workspace", span_3_drifted["workspace"], "--html", str(tmp_path / "m.html"))
    first, pushed_2 = run_summary(stages[0][0]), run_summary(stages[3][0])
    versions = registry["versions"]
    assert [v["version"] for v in versions] == [int(pushed_2["pushed_version"]), int(first["pushed_version"])]
    for version, summary in zip(versions, (pushed_2, first), strict=True):
        assert version["run_id"] == summary["run_id"] and version["spans"] == summary["spans"]
        assert version["metrics"]["auc"] == summary["metrics"]["auc"] and version["blessed"] is True
        assert version["labels"] == [] and version["server"] == "not asked"
    assert versions[0]["baseline_version"] == int(first["pushed_version"])
    assert not re.search("https?://", (tmp_path / "m.html").read_text())
