"""`kfx init` then `kfx run`, as a new user would: a generated ';'-separated CSV with odd column names (spaces,
parentheses, a slash), NA tokens, '?' among integer codes, an id, free text, a constant and an empty column. The
config `kfx init` writes is used as is, and the run trains and pushes a model."""

import json
import os
import re

import odd_csv
import pytest
from conftest import run_kfx

from bench import gb_compare

pytestmark = pytest.mark.e2e


def test_a_config_written_by_init_trains_and_pushes(tmp_path):
    data = odd_csv.write(str(tmp_path / "clinic export.csv"), 3000)
    config = str(tmp_path / "clinic.yaml")
    init = run_kfx("init", data, "--label", "outcome", "--output", config)
    assert init.returncode == 0, init.stderr
    check = run_kfx("config", "check", "--data", "--config", config)
    assert check.returncode == 0 and "no findings" in check.stdout, check.stderr
    workspace = str(tmp_path / "workspace")
    run = run_kfx("run", "--config", config, "--workspace", workspace)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "delimiter ';', encoding utf-8" in run.stdout  # as init detected and wrote them
    log = re.search(r"log:\s+(\S+)\.log$", run.stdout, re.MULTILINE).group(1)
    with open(log + ".summary.json") as f:
        summary = json.load(f)
    assert summary["blessed"] is True and summary["pushed_version"], summary
    pushed = os.path.join(workspace, "serving_model", "clinic_export", str(summary["pushed_version"]))
    assert os.path.isfile(os.path.join(pushed, "saved_model.pb"))
    # bench/gb_compare.py reads the same eval rows and model the Evaluator scored: the same AUC, and trees beside it.
    compared = gb_compare.compare(config, workspace)
    assert compared["eval_rows"] == summary["metrics"]["example_count"]
    assert abs(compared["pushed_auc"] - summary["metrics"]["auc"]) < 0.002, (compared, summary["metrics"])
    low, high = compared["difference_ci95"]
    assert low <= compared["difference"] <= high and 0.5 < compared["boosted_trees_auc"] <= 1
