"""`kfx feedback` and `kfx monitor`'s online quality as a user runs them: real subprocesses, logs written as the
server writes them, outcomes in CSV and JSON lines, the reports and the Prometheus textfile read back."""

import glob
import json
import os

import numpy as np
import pytest
from conftest import run_kfx
from prediction_logs import Logged, write_logs
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def served(tmp_path):
    """Logs of stable (version 1), a canary (2) and a shadow (3) copy of half of stable's requests; outcomes."""
    rng = np.random.default_rng(3)
    logged, lines = [], ["request_id,label,time"]
    for number in range(240):
        label = int(rng.random() < 0.4)
        score = float(1 / (1 + np.exp(-(2 * label - 1 + rng.normal(0, 1)))))
        route, version = ("canary", 2) if number % 6 == 5 else ("stable", 1)
        logged.append(Logged(f"req-{number}", version, route, [score], timestamp=1_700_000_000 + number))
        if route == "stable" and number % 2 == 0:
            logged.append(Logged(f"req-{number}", 3, "shadow", [min(1.0, score * 1.1)], 1_700_000_000 + number))
        lines.append(f"req-{number},{label},{1_700_000_100 + number}")
    logs = write_logs(str(tmp_path / "logs"), logged)
    (tmp_path / "a.csv").write_text("\n".join(lines[:150]) + "\n")
    (tmp_path / "b.jsonl").write_text(
        "".join(
            json.dumps({"request_id": r, "label": bool(int(y)), "time": int(t)}) + "\n"
            for r, y, t in (line.split(",") for line in lines[150:])
        )  # fmt: skip
        + '{"request_id": "not-logged", "label": 1}\n'
    )
    return {"logs": logs, "workspace": str(tmp_path / "ws"), "csv": str(tmp_path / "a.csv"),
            "jsonl": str(tmp_path / "b.jsonl"), "root": tmp_path}  # fmt: skip


def test_feedback_counts_once_names_bad_rows_and_refuses_unreadable_files(served):
    first = run_kfx("feedback", served["csv"], served["jsonl"], "--logs", served["logs"],
                    "--workspace", served["workspace"])  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "read 241 outcomes from 2 file(s)" in first.stdout and "new: 241\n" in first.stdout
    assert "unknown ids: 1 of 241 in no request logged" in first.stdout and "not-logged" in first.stdout
    again = run_kfx("feedback", served["jsonl"], "--workspace", served["workspace"])
    assert again.returncode == 0, again.stderr
    assert "new: 0\nrepeated: 92" in again.stdout and "unknown ids: not checked" in again.stdout
    assert os.path.exists(os.path.join(served["workspace"], "feedback", "outcomes.sqlite"))

    bad = served["root"] / "bad.csv"
    stored = int(open(served["csv"]).read().splitlines()[1].split(",")[1])  # req-0's label
    bad.write_text(f"request_id,label\nreq-0,{1 - stored}\nreq-9000,perhaps\n")
    partly = run_kfx("feedback", str(bad), "--workspace", served["workspace"])
    assert partly.returncode == 1 and "Traceback" not in partly.stderr
    assert "bad.csv line 3, column label: 'perhaps': expected 0, 1, true or false" in partly.stderr
    assert f"conflicts: 1 (stored with another label, the first kept): req-0 row 0 (kept {stored}, " in partly.stdout
    assert "bad rows: 1" in partly.stdout

    missing = run_kfx("feedback", str(served["root"] / "nope.csv"), "--workspace", served["workspace"])
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read") and not missing.stdout
    assert "Traceback" not in missing.stderr


def test_monitor_online_writes_the_reports_and_prometheus_metrics(served):
    assert run_kfx("feedback", served["csv"], served["jsonl"], "--workspace", served["workspace"]).returncode == 0
    result = run_kfx("monitor", "--logs", served["logs"], "--workspace", served["workspace"], "--skip-skew")
    assert result.returncode == 0, result.stderr
    assert "online quality of chicago_taxi (95% intervals; 241 outcomes stored)" in result.stdout
    assert (
        "canary 2 - stable 1, auc:" in result.stdout and "(paired on 120 labelled rows both answered)" in result.stdout
    )
    (json_path,) = glob.glob(os.path.join(served["workspace"], "monitoring", "online-*.json"))
    (html_path,) = glob.glob(os.path.join(served["workspace"], "monitoring", "online-*.html"))
    online = json.load(open(json_path))["online"]
    assert [(v["version"], v["route"], v["labelled"]) for v in online["versions"]] == [
        ("1", "stable", 200), ("2", "canary", 40), ("3", "shadow", 120)
    ]  # fmt: skip
    assert "Online quality of chicago_taxi" in open(html_path).read()

    with open(os.path.join(served["workspace"], "monitoring", "online.prom")) as f:
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(f.read())
            for s in family.samples
        }  # fmt: skip
    stable = (("model", "chicago_taxi"), ("route", "stable"), ("version", "1"))
    auc = online["versions"][0]["auc"]
    assert [samples[(f"kfx_online_auc{suffix}", stable)] for suffix in ("", "_low", "_high")] == pytest.approx(
        [auc["value"], auc["low"], auc["high"]]
    )
    assert samples[("kfx_online_labelled", stable)] == 200
    shadow_auc = (("baseline_version", "1"), ("candidate_route", "shadow"), ("candidate_version", "3"),
                  ("measure", "auc"), ("model", "chicago_taxi"), ("paired", "true"))  # fmt: skip
    assert ("kfx_online_difference_low", shadow_auc) in samples


def test_monitor_without_an_outcome_store_and_skew_exit_codes_stay_as_they_were(served):
    no_store = run_kfx("monitor", "--logs", served["logs"], "--workspace", served["workspace"], "--online")
    assert no_store.returncode == 2 and "no outcome store at" in no_store.stderr and "kfx feedback" in no_store.stderr
    bad_since = run_kfx("monitor", "--logs", served["logs"], "--workspace", served["workspace"], "--skip-skew",
                        "--since", "last tuesday")  # fmt: skip
    assert bad_since.returncode == 2 and "--since 'last tuesday': expected ISO 8601" in bad_since.stderr
    # Skew still needs this workspace's lineage: without it, exit 2 as before, the online section changes nothing.
    skew = run_kfx("monitor", "--logs", served["logs"], "--workspace", served["workspace"])
    assert skew.returncode == 2 and skew.stderr.startswith("error: ") and "Traceback" not in skew.stderr
