"""`kfx config schema` and `kfx config check`, through the real CLI."""

import collections
import json
import os
import random
import re
import subprocess
import sys

import yaml
from conftest import REPO, run_kfx

from kfx import cli
from pipeline import config as config_lib


def test_schema_command_prints_the_schema_that_is_committed_for_editors():
    result = run_kfx("config", "schema")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == config_lib.json_schema()
    with open(os.path.join(REPO, "configs", "config.schema.json")) as f:
        assert result.stdout == f.read()
    with open(os.path.join(REPO, "configs", "chicago_taxi.yaml")) as f:
        assert f.readline() == "# yaml-language-server: $schema=config.schema.json\n"


def test_check_prints_the_resolved_paths(config_path):
    result = run_kfx("config", "check", "--config", config_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config_path}: valid\n")
    assert f"data.path      {os.path.join(REPO, 'data', 'chicago_taxi')} (latest 4 span(s))" in result.stdout
    assert "label          big_tipper = tips > 0.2 x fare" in result.stdout


def test_check_refuses_a_bad_file_or_a_path_that_does_not_exist(tmp_path, config_path):
    with open(config_path) as f:
        text = f.read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  dropout: 0.2", "  dropout: 1.0"))
    result = run_kfx("config", "check", "--config", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: {bad}: training.dropout must be in [0, 1), got 1.0\n"
    moved = tmp_path / "moved.yaml"  # relative paths now point next to tmp_path, where nothing is
    moved.write_text(text)
    result = run_kfx("config", "check", "--config", str(moved))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {moved}: data.path '{tmp_path.parent / 'data' / 'chicago_taxi'}' does")


def test_output_cut_short_by_the_reader_ends_quietly():
    """`kfx config schema | head -0`: the reader closes the pipe early; no BrokenPipeError traceback."""
    kfx = subprocess.Popen(
        [sys.executable, "-m", "kfx.cli", "config", "schema"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    kfx.stdout.close()  # gone before kfx, still importing, writes anything: its first write hits a closed pipe
    stderr = kfx.stderr.read().decode()
    assert kfx.wait(timeout=60) == 141
    assert stderr == ""


# `kfx config check --data`: each finding is one line on stderr naming the key, the value and the fix, exit code 2.
# In-process (kfx.cli.main), so TensorFlow-free checks take well under a second each after the first.
HEADER = ["age", "region", "clinic", "grade", "sex"]


def _rows(count: int = 600) -> list[list[str]]:
    """Rows whose label (sex) follows age, with a region of three values and a clinic of 100."""
    rng = random.Random(0)
    rows = []
    for index in range(count):
        age = rng.randint(20, 80)
        sex = "MALE" if age + rng.gauss(0, 15) > 50 else "FEMALE"
        rows.append([str(age), rng.choice(["north", "south", "east"]), f"c{index % 100}", str(index % 4), sex])
    return rows


def _data_project(tmp_path, rows=None, label=None, data=None, evaluation=None, **features) -> str:
    (tmp_path / "data.csv").write_text("".join(",".join(row) + "\n" for row in [HEADER, *(rows or _rows())]))
    config = {
        "pipeline_name": "new-data",
        "data": {"path": "data.csv", **(data or {})},
        "label": label or {"name": "male", "column": "sex", "one_of": ["MALE"], "negative": ["FEMALE"]},
        "features": features or {"numeric": ["age"], "categorical": ["region", "clinic", "grade"]},
        "training": {},
        "evaluation": evaluation or {"slices": ["region"], "thresholds": {"auc": 0.6}},
        "serving": {"model_name": "new_data"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _finding(config: str, capsys) -> str:
    """The one finding of `kfx config check --data`, without its 'error: <file>: ' prefix."""
    code = cli.main(["config", "check", "--data", "--config", config])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: "), err
    return lines[0].removeprefix(f"error: {config}: ")


def test_data_that_fits_the_config_has_no_findings_and_prints_the_label_counts(tmp_path, capsys):
    config = _data_project(tmp_path)
    assert cli.main(["config", "check", "--data", "--config", config]) == 0
    out = capsys.readouterr().out
    counts = collections.Counter(row[-1] for row in _rows())
    assert out.endswith(
        f"data: 600 rows sampled, no findings\n  male (sex): MALE {counts['MALE']} -> positive, "
        f"FEMALE {counts['FEMALE']} -> negative\n"
    )


def test_a_column_the_config_names_but_the_data_lacks(tmp_path, capsys):
    config = _data_project(tmp_path, numeric=["age", "Income"], categorical=["region"])
    assert _finding(config, capsys) == (
        "features/label: column(s) 'Income' are not in the data's header (age, region, clinic, grade, sex); fix the "
        "names in the config (they are exact, case included) or in the CSV"
    )


def test_label_values_in_neither_class(tmp_path, capsys):
    rows = _rows()
    for row in rows[:7]:
        row[-1] = "U"
    assert _finding(_data_project(tmp_path, rows), capsys) == (
        "label column 'sex' has values in neither label.one_of nor label.negative: 'U' 7; list them under one_of or "
        "negative, or set label.other: drop to leave those rows out"
    )


def test_a_label_value_the_data_never_holds(tmp_path, capsys):
    config = _data_project(tmp_path, label={"name": "male", "column": "sex", "one_of": ["Male"]})
    finding = _finding(config, capsys)
    assert finding.startswith("label.one_of: value(s) 'Male' never occur in 'sex' (its values: 'MALE' ")
    assert finding.endswith("write the values exactly as the data has them, or set label.fold_case: true")


def test_a_feature_without_any_value(tmp_path, capsys):
    rows = [[*row[:3], "", row[4]] for row in _rows()]
    assert _finding(_data_project(tmp_path, rows), capsys) == (
        "feature column(s) 'grade' have no value in any of the window's 600 rows (every cell is empty or one of "
        "data.missing_values); remove them from features or fill them in"
    )


def test_text_in_a_numeric_column(tmp_path, capsys):
    rows = _rows()
    rows[3][0] = "unknown"
    assert _finding(_data_project(tmp_path, rows), capsys) == (
        "features: numeric column 'age' has text: 'unknown' 1; clean those cells, add them to data.missing_values if "
        "they mean missing, or list the column as categorical"
    )


def test_text_among_the_whole_numbers_of_a_categorical_column(tmp_path, capsys):
    rows = _rows()
    for row in rows[:5]:
        row[3] = "?"
    assert _finding(_data_project(tmp_path, rows), capsys) == (
        "categorical column 'grade' holds whole numbers (595 cells) and 5 text cell(s): '?' 5; fix those cells, or "
        "list them under data.missing_values if they mean missing (as '?' does in UCI data)"
    )


def test_a_schema_written_for_other_data(tmp_path, capsys):
    config = _data_project(tmp_path, data={"schema": os.path.join(REPO, "configs", "chicago_taxi.schema.pbtxt")})
    finding = _finding(config, capsys)
    assert finding.startswith(f"data.schema '{REPO}/configs/chicago_taxi.schema.pbtxt' does not describe this data: ")
    assert "18 column(s) in the schema but not in the data ('company', " in finding
    assert "5 column(s) in the data but not in it ('age', 'region', 'clinic', 'grade', 'sex')" in finding
    assert finding.endswith(
        "remove the data.schema line to validate against the schema inferred from the data, or fix the schema"
    )


def test_an_accuracy_threshold_a_constant_model_meets(tmp_path, capsys):
    config = _data_project(tmp_path, evaluation={"thresholds": {"accuracy": 0.5}})
    majority = max(collections.Counter(row[-1] for row in _rows()).values()) / 600
    assert _finding(config, capsys) == (
        f"evaluation.thresholds.accuracy: 0.5 is met by a model that always answers the majority class "
        f"({majority:.1%} of the sampled rows); raise it above {majority:.2f} or remove it"
    )


def test_an_auc_threshold_above_what_a_baseline_reaches(tmp_path, capsys):
    finding = _finding(_data_project(tmp_path, evaluation={"thresholds": {"auc": 0.99}}), capsys)
    assert re.fullmatch(
        r"evaluation.thresholds.auc: 0.99 is above what a gradient-boosted baseline reaches on these features "
        r"\(AUC 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] on \d+ held-out rows \(majority class \d+\.\d%\)\); lower it to "
        r"0\.\d\d \(the baseline - 0\.05\) or below",
        finding,
    ), finding


def test_an_accuracy_threshold_above_what_a_baseline_reaches(tmp_path, capsys):
    finding = _finding(_data_project(tmp_path, evaluation={"thresholds": {"accuracy": 0.995}}), capsys)
    assert re.fullmatch(
        r"evaluation.thresholds.accuracy: 0.995 is above what a gradient-boosted baseline reaches on these features "
        r"\(accuracy 0\.\d{3}, at most 0\.\d{3} at 95% on \d+ held-out rows\): no model would be pushed; lower it or "
        r"remove it \(auc judges ranking whatever the classes' balance\)",
        finding,
    ), finding


def test_a_slice_without_a_value_that_has_enough_eval_rows(tmp_path, capsys):
    config = _data_project(tmp_path, evaluation={"slices": ["region", "clinic"], "thresholds": {"auc": 0.6}})
    assert _finding(config, capsys) == (
        "evaluation.slices: 'clinic' has no value with the 30 eval rows evaluation.comparison.min_slice_size needs "
        "(largest: 'c0' with about 1); remove it, or lower min_slice_size"
    )


def test_two_columns_with_one_tensorflow_name(tmp_path, capsys):
    config = _data_project(tmp_path, numeric=["age", "a.b", "a_b"], categorical=["region"])
    assert cli.main(["config", "check", "--data", "--config", config]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "'a.b'" in err and "'a_b'" in err, err
