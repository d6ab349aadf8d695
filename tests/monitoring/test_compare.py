"""monitoring/compare.py on a real SQLite ML Metadata (tests/mlmd_records.py): which run or version each side names,
the facts of each side against the store read directly, the configuration diff, the hyperparameters, the commits; the
intervals of compare_scores on known scores; the text, and the HTML page opened in Chromium with networking blocked.
The comparison of two really trained models is tests/e2e/test_compare_runs.py."""

import json
import subprocess

import numpy as np
import pytest
from browser import leaves_the_page, open_offline
from mlmd_records import CODE, MODEL, Records, states_until

from components.champion_evaluator import delong
from monitoring import compare, compare_data, compare_output, compare_scores, hyperparameters
from monitoring import store as store_lib

RUN_1, RUN_2, RUN_3 = "2026-12-01T10:00:00.000001", "2026-12-02T10:00:00.000001", "2026-12-03T10:00:00.000001"
V1 = "1700000001"
CONFIG_1 = "pipeline_name: chicago-taxi\ntraining:\n  dropout: 0.2\n  learning_rate: 0.001\n"
CONFIG_2 = "pipeline_name: chicago-taxi\ntraining:\n  dropout: 0.1\n  learning_rate: 0.001\n"
HPARAMS_1 = {"dropout": 0.2, "learning_rate": 0.001, "hidden_units": [128, 64]}
HPARAMS_2 = {"dropout": 0.1, "learning_rate": 0.001, "hidden_units": [128, 64]}


def _recorded(config_text: str | None, sha: str) -> dict[str, str]:
    recorded = {**CODE, store_lib.CONFIG_PATH: "/configs/chicago_taxi.yaml", store_lib.CONFIG_SHA256: sha}
    return recorded | ({store_lib.CONFIG_TEXT: config_text} if config_text is not None else {})


def _set_trainer_properties(records: Records, run_id: str, hparams: dict, steps: int) -> None:
    """What TFX records on the Trainer execution: custom_config (features and hparams) and train_args as JSON."""
    context = records.store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    (trainer,) = [e for e in records.store.get_executions_by_context(context.id) if e.type.endswith("Trainer")]
    config = {"features": {"label": {"name": "big_tipper"}}, "hparams": hparams}
    trainer.custom_properties["custom_config"].string_value = json.dumps(config)
    trainer.custom_properties["train_args"].string_value = json.dumps({"num_steps": steps})
    records.store.put_executions([trainer])


@pytest.fixture
def workspace(tmp_path) -> dict:
    """RUN_1 pushed V1 (before config texts were recorded), RUN_2 refused on more data with another config, RUN_3
    blocked by the drift check."""
    (tmp_path / "serving_model" / MODEL / V1).mkdir(parents=True)
    paths = {"metadata": str(tmp_path / "metadata.sqlite"), "logs": str(tmp_path / "logs")}
    records = Records(paths["metadata"], str(tmp_path / "serving_model"), paths["logs"])
    done = states_until("Pusher", "COMPLETE")
    records.run(RUN_1, done, spans=(1,), fingerprint="a" * 64, blessed=True, pushed_version=V1,
                properties=_recorded(None, "1" * 64), metrics={"auc": 0.91, "binary_accuracy": 0.87})  # fmt: skip
    records.run(RUN_2, done, spans=(1, 2), fingerprint="b" * 64, blessed=False, reason="AUC -0.0300: worse",
                baseline_version=int(V1), properties=_recorded(CONFIG_2, "2" * 64))  # fmt: skip
    records.run(RUN_3, states_until("DriftStop", "FAILED"), spans=(1, 2, 3), properties=_recorded(CONFIG_1, "3" * 64))
    _set_trainer_properties(records, RUN_1, HPARAMS_1, 100)
    _set_trainer_properties(records, RUN_2, HPARAMS_2, 300)
    return paths


def _store(paths: dict):
    return store_lib.connect(paths["metadata"])


def test_a_side_is_a_run_id_its_unique_start_or_a_pushed_version(workspace):
    store = _store(workspace)
    assert compare.resolve(store, RUN_2) == (RUN_2, None, None)
    assert compare.resolve(store, "2026-12-03")[0] == RUN_3
    run, version, path = compare.resolve(store, f"v:{V1}")
    assert (run, version) == (RUN_1, int(V1)) and path.endswith(f"/{MODEL}/{V1}")
    with pytest.raises(compare.CompareError, match="is the start of 3 run ids"):
        compare.resolve(store, "2026-12-0")
    with pytest.raises(compare.CompareError, match=r"no run '2025' .*kfx runs.*v:<version>"):
        compare.resolve(store, "2025")
    with pytest.raises(compare.CompareError, match=f"version 9 was not pushed here; pushed versions: {V1}"):
        compare.resolve(store, "v:9")


def test_each_side_shows_what_its_run_recorded(workspace):
    store = _store(workspace)
    found = compare.compare(store, workspace["logs"], f"v:{V1}", RUN_2)
    a, b = found.a, found.b
    assert (a.name, a.run_id, a.outcome, a.blessed) == (f"version {V1}", RUN_1, "pushed", True)
    assert (b.name, b.outcome, b.blessed, b.blessing) == (f"run {RUN_2}", "not blessed", False, "AUC -0.0300: worse")
    assert (a.spans, a.data_fingerprint, b.spans, b.data_fingerprint) == ([1], "a" * 64, [1, 2], "b" * 64)
    for one in (a, b):
        recorded = store_lib.run_properties(store, one.run_id)
        assert (
            one.git_commit == recorded[store_lib.GIT_COMMIT] and one.config_sha256 == recorded[store_lib.CONFIG_SHA256]
        )
    assert a.summary_metrics == {"auc": 0.91, "binary_accuracy": 0.87} and b.summary_metrics == {}
    assert a.hyperparameters == {**HPARAMS_1, "train_steps": 100, "source": "set", "tuned_run": None}
    assert hyperparameters.used(store, RUN_2) == {**HPARAMS_2, "train_steps": 300, "source": "set", "tuned_run": None}
    changed = {row["name"]: (row["a"], row["b"]) for row in found.hyperparameters if row["changed"]}
    assert changed == {"dropout": (0.2, 0.1), "train_steps": (100, 300)}
    missing = f"run {RUN_2}: its model folder /pipeline_root/Trainer/model/{RUN_2}/Format-Serving is gone"
    assert (found.metrics, found.metrics_note, a.model_dir) == (None, missing, a.model_dir)
    assert a.model_dir.endswith(f"/{MODEL}/{V1}")  # a pushed version is scored from its pushed folder
    assert found.config_diff == [] and found.config_note.startswith(f"configuration text not recorded for version {V1}")
    assert found.commits == [] and found.commits_note == f"the same commit {CODE[store_lib.GIT_COMMIT][:12]}"
    assert found.data_note == f"no training statistics recorded for version {V1}"
    as_json = json.loads(json.dumps(found.to_dict()))
    assert "config_text" not in as_json["a"] and as_json["b"]["hyperparameters"]["dropout"] == 0.1


def test_the_configuration_diff_and_a_run_without_a_trainer(workspace):
    found = compare.compare(_store(workspace), workspace["logs"], RUN_2, "2026-12-03")
    assert found.config_note == "unified diff, A to B"
    assert "-  dropout: 0.1" in found.config_diff and "+  dropout: 0.2" in found.config_diff
    assert (found.b.outcome, found.b.hyperparameters, found.b.model_dir) == ("blocked", {}, None)
    assert found.b.model_note == "trained no model (blocked: drift: DriftStop stopped the run)"
    assert found.metrics is None and found.metrics_note.startswith(f"run {RUN_2}: its model folder")
    text = compare_output.format_comparison(found)
    assert "Metrics: not compared: run " in text and "  -  dropout: 0.1" in text
    assert "B  blocked (drift: DriftStop stopped the run); no blessing" in text


def test_the_commits_between_the_two(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    commits = []
    for message in ("first", "second", "third"):
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", message)
        commits.append(git("rev-parse", "HEAD").strip())
    lines, note = compare.git_commits(commits[0], commits[2], str(tmp_path))
    assert [line.split(" ", 1)[1] for line in lines] == ["third", "second"] and note.startswith("2 commit(s) in B")
    lines, note = compare.git_commits(commits[2], commits[1], str(tmp_path))
    assert [line.split(" ", 1)[1] for line in lines] == ["third"] and note.startswith("B is older: 1 commit(s)")
    assert compare.git_commits(commits[0], "f" * 40, str(tmp_path))[1].startswith("commit ffffffffffff is not in")
    assert compare.git_commits(None, commits[0], str(tmp_path)) == ([], "commit not recorded for A")


def _scored(seed: int, rows: int, noise: float) -> compare_scores.Scored:
    generator = np.random.default_rng(seed)
    labels = (generator.random(rows) < 0.3).astype(float)
    scores = 1 / (1 + np.exp(-(labels * 2 - 1 + generator.normal(0, noise, rows))))
    slices = {"payment_type": np.array(["Cash", "Card"] * (rows // 2) + ["Cash"] * (rows % 2), dtype=object)}
    return compare_scores.Scored(labels, scores, slices)


def test_paired_intervals_are_delongs_and_unpaired_ones_add_both_variances():
    a, b = _scored(0, 600, 1.5), _scored(0, 600, 1.0)
    b.labels = a.labels  # the same rows
    paired = compare_scores.compare(a, b, True, 0.95, 30, "")
    expected = delong.paired_auc(a.labels, b.scores, a.scores)
    half = delong.z_score(0.95) * expected.std_error
    overall = paired.overall
    assert paired.pairing == "paired" and overall.auc_difference == pytest.approx(expected.difference)
    assert (overall.auc_lower, overall.auc_upper) == pytest.approx(
        (expected.difference - half, expected.difference + half)
    )
    other = _scored(1, 400, 1.0)  # B on other rows
    unpaired = compare_scores.compare(a, other, False, 0.95, 30, "spans 1 vs 1,2")
    (_, se_a), (_, se_b) = (
        delong.auc_with_error(a.labels, a.scores),
        delong.auc_with_error(other.labels, other.scores),
    )
    half = delong.z_score(0.95) * np.hypot(se_a, se_b)
    assert unpaired.pairing == "unpaired" and "unpaired: the eval rows differ (spans 1 vs 1,2)" in unpaired.method
    assert (unpaired.overall.rows_a, unpaired.overall.rows_b) == (600, 400)
    assert unpaired.overall.auc_upper - unpaired.overall.auc_lower == pytest.approx(2 * half)
    assert {(row.value, row.rows_a, row.rows_b, row.judged) for row in unpaired.slices} == {
        ("Cash", 300, 200, True), ("Card", 300, 200, True)}  # fmt: skip
    tiny = compare_scores.compare(a, b, True, 0.95, 400, "")
    assert not any(row.judged for row in tiny.slices)  # 300 rows each: under min_slice_size


def test_jensen_shannon_of_distributions():
    assert compare_data.jensen_shannon([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert compare_data.jensen_shannon([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert 0 < compare_data.jensen_shannon([0.6, 0.4], [0.4, 0.6]) < 0.1


def test_text_and_the_self_contained_page(workspace, tmp_path):
    found = compare.compare(_store(workspace), workspace["logs"], RUN_1, RUN_2)
    a, b = _scored(0, 600, 1.5), _scored(0, 600, 1.0)
    b.labels = a.labels
    found.metrics = compare_scores.compare(a, b, True, 0.95, 30, "")  # as if both models had been scored
    text = compare_output.format_comparison(found)
    overall = found.metrics.overall
    assert f"  AUC        {overall.auc_a:.4f}  {overall.auc_b:.4f}  {overall.auc_difference:+.4f}" in text
    assert "by payment_type: 2 of 2 values judged (n>=30 on both sides, both classes); lowest B - A: " in text
    assert "Hyperparameters (A set, B set)\n  dropout                  0.2 -> 0.1\n  train_steps" in text
    path = compare_output.write_html(found, str(tmp_path / "out" / "compare.html"))
    dom, requested, failed = open_offline(path, str(tmp_path / "profile"))
    assert not leaves_the_page(requested) and not failed, requested
    for section in ("metrics", "blessing", "data", "configuration", "hyperparameters", "code"):
        assert f'id="{section}"' in dom, section
    assert "paired: both models scored the same 600 eval rows" in dom and 'id="slices-payment_type"' in dom
