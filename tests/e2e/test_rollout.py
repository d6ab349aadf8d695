"""The production loop on loopback, as README's "Rollout" walkthrough runs it, with the pipeline's own models:

the span 2 stage (version 1 trained on span 1, version 2 on spans 1-2) with version 1 stable and `kfx serve` running;
version 2 goes in canary, rows of span 3 are replayed through the server (`kfx predict --outcomes`: each row's real
label beside its request id, a synthetic outcome stream), `kfx feedback` stores the outcomes and `kfx rollout step`
promotes it. Then `kfx run` pushes a deliberately bad model (5 training steps, let through by a lax evaluation
config) that `rollout.on_push` puts in canary, and the next step rolls it back on its online AUC. Every decision is
in `kfx rollout status`, the monitor's online report and the lineage.

The test's rollout rules suit its traffic (1,000 requests a phase, half of them to the canary): min_labelled 300 and
a margin of 0.05 instead of 0.01, which a canary judged on 500 outcomes could not show.
"""

import csv
import itertools
import json
import os
import re
import sys

import pytest
import yaml
from conftest import REPO, next_stage, run_kfx, run_pipeline, serving_dir
from server_process import ServerProcess

from serving.config import read_model_config_file

pytestmark = pytest.mark.e2e

SPAN_3_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-3", "data.csv")
PHASE_ROWS = 1000
ROLLOUT = {"canary_weight": 0.5, "min_labelled": 300, "max_labelled": 5000, "margin": 0.05, "max_p99_ms": 2000.0}


def _rows(path: str, start: int) -> None:
    with open(SPAN_3_CSV, newline="") as source, open(path, "w", newline="") as target:
        reader = csv.reader(source)
        writer = csv.writer(target)
        writer.writerow(next(reader))
        writer.writerows(itertools.islice(reader, start, start + PHASE_ROWS))


def _labels(config_path: str, model: str) -> dict:
    config = read_model_config_file(config_path)
    return dict(next(m for m in config.model_config_list.config if m.name == model).version_labels)


def _kfx_ok(*args: str) -> str:
    result = run_kfx(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _replay(project: dict, server: ServerProcess, phase: str, start: int) -> str:
    """Span 3's rows from `start` through the server, one request each, and their outcomes into the store."""
    rows, outcomes = (os.path.join(project["root"], f"{phase}.{ext}") for ext in ("rows.csv", "outcomes.csv"))
    _rows(rows, start)
    common = ["--config", project["config"], "--workspace", project["workspace"]]
    scored = _kfx_ok("predict", "--csv", rows, "--batch-size", "1", "--address", server.rest, "--outcomes", outcomes,
                     *common)  # fmt: skip
    assert len(scored.splitlines()) == PHASE_ROWS + 1
    logs = os.path.join(project["workspace"], "request_logs", "chicago_taxi")
    stored = _kfx_ok("feedback", outcomes, "--logs", logs, "--workspace", project["workspace"])
    new = int(re.search(r"^new: (\d+)$", stored, re.MULTILINE).group(1))
    assert new == PHASE_ROWS, stored  # unknown ids (rows in the log file still open, .tmp) are stored too
    again = _kfx_ok("feedback", outcomes, "--workspace", project["workspace"])
    assert "new: 0" in again and f"repeated: {new}" in again  # ingested twice, counted once
    return outcomes


def test_a_good_canary_is_promoted_and_a_bad_one_rolled_back_automatically(span_2_pushed, tmp_path):
    project = {**next_stage(span_2_pushed, tmp_path, new_data=False), "root": str(tmp_path)}
    workspace, serving = project["workspace"], serving_dir(project)
    old, new = sorted(int(v) for v in os.listdir(serving))
    server = ServerProcess(
        [sys.executable, "-m", "kfx.cli", "serve", "--workspace", workspace, "--request_log_max_file_bytes=4096"],
        str(tmp_path / "serve.log"), ready_models=("chicago_taxi",),
    )  # fmt: skip
    with open(project["config"]) as f:
        raw = yaml.safe_load(f)
    raw["rollout"] = {**ROLLOUT, "grpc_address": server.grpc, "rest_address": server.rest}
    project["config"] = str(tmp_path / "config.yaml")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    common = ["--config", project["config"], "--workspace", workspace]
    _kfx_ok("promote", str(old), *common, "--grpc-address", server.grpc)  # no server yet: files only
    server.start()
    models_config = os.path.join(workspace, "serving_model", "models.config")
    try:
        # A good canary: version 2 (trained longer, on more data) against version 1, on span 3's rows.
        started = _kfx_ok("rollout", "start", str(new), "--canary", "50%", *common)
        assert f"start version {new}" in started and "request logging turned on" in started, started
        assert _labels(models_config, "chicago_taxi") == {"stable": old, "canary": new}
        _replay(project, server, "good", 0)
        status = _kfx_ok("rollout", "status", *common)
        assert f"canary: version {new} at 50%" in status, status
        promoted = _kfx_ok("rollout", "step", *common)
        assert f"promote version {new}" in promoted and "quality  ok" in promoted, promoted
        numbers = rf"auc 0\.\d{{4}} vs stable 0\.\d{{4}} \(version {old}\): difference [-+]0\.\d{{4}}, 95% CI"
        assert re.search(numbers, promoted), promoted
        assert _labels(models_config, "chicago_taxi") == {"stable": new}

        # A bad model, pushed by a run whose evaluation lets anything through, goes in canary by rollout.on_push.
        raw["training"]["train_steps"] = 5
        raw["evaluation"]["thresholds"] = {"auc": 0.0}
        raw["evaluation"]["comparison"]["margin"] = 0.99
        raw["rollout"]["on_push"] = "canary"
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
        run = run_pipeline(project)
        assert run.returncode == 0, run.stdout + run.stderr
        bad = max(int(v) for v in os.listdir(serving) if v.isdigit())
        assert bad > new and f"start version {bad}" in run.stdout, run.stdout
        assert _labels(models_config, "chicago_taxi") == {"stable": new, "canary": bad}
        _replay(project, server, "bad", PHASE_ROWS)
        rolled_back = _kfx_ok("rollout", "step", *common)
        assert f"rollback version {bad}" in rolled_back and "quality  rollback" in rolled_back, rolled_back
        assert "worse beyond the margin 0.05" in rolled_back, rolled_back
        assert _labels(models_config, "chicago_taxi") == {"stable": new}
        assert "nothing in rollout" in _kfx_ok("rollout", "status", *common)

        # The record: lineage says when and why each version went live or was withdrawn.
        lineage = json.loads(_kfx_ok("lineage", "--workspace", workspace, "--version", str(bad), "--json"))
        actions = [(d["action"], d["reason"]) for d in lineage["decisions"]]
        assert [a for a, _ in actions] == ["start", "rollback"], actions
        assert "worse beyond the margin" in actions[1][1]
        lineage = json.loads(_kfx_ok("lineage", "--workspace", workspace, "--version", str(new), "--json"))
        assert [d["action"] for d in lineage["decisions"]] == ["start", "promote"]

        # The monitor's online report: each version by route, with intervals.
        logs = os.path.join(workspace, "request_logs", "chicago_taxi")
        monitor = run_kfx("monitor", "--logs", logs, *common, "--skip-skew")
        assert monitor.returncode == 0, monitor.stdout + monitor.stderr
        report = re.search(r"^report: (\S+\.json)$", monitor.stdout, re.MULTILINE).group(1)
        with open(report) as f:
            online = json.load(f)["online"]
        seen = {(entry["version"], entry["route"]): entry for entry in online["versions"]}
        assert {(str(old), "stable"), (str(new), "canary"), (str(new), "stable"), (str(bad), "canary")} <= set(seen)
        assert seen[(str(bad), "canary")]["auc"]["high"] < seen[(str(new), "stable")]["auc"]["low"]
    finally:
        assert server.stop() == 0, server.output()
