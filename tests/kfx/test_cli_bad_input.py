"""`kfx run` on bad input: one clear line naming the problem, exit code 2, no traceback, nothing pushed touched.

These fail in the checks before the pipeline starts, so each case takes about a second.
"""

import os
import shutil

import pytest
import yaml
from conftest import run_kfx, tree_digest

HEADER = (
    "pickup_community_area,fare,trip_start_month,trip_start_hour,trip_start_day,trip_start_timestamp,"
    "pickup_latitude,pickup_longitude,dropoff_latitude,dropoff_longitude,trip_miles,pickup_census_tract,"
    "dropoff_census_tract,payment_type,company,trip_seconds,dropoff_community_area,tips"
)
ROW = ",12.45,5,19,6,1400269500,,,,,0.0,,,Credit Card,Flash Cab,0,,0.0"


@pytest.fixture
def workspace(tmp_path):
    """A workspace whose serving directory already holds a pushed version."""
    version = tmp_path / "ws" / "serving_model" / "chicago_taxi" / "1700000000"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"served model")
    (version / "variables" / "variables.index").write_bytes(b"weights")
    return tmp_path / "ws"


def _span(tmp_path, text):
    span = tmp_path / "data" / "span-1"
    span.mkdir(parents=True)
    (span / "data.csv").write_text(text)
    return tmp_path / "data"


def _assert_clean_failure(result, workspace, before, *expected):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in expected:
        assert fragment in lines[0], lines[0]
    assert tree_digest(str(workspace / "serving_model")) == before


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ("is empty",)),
        (HEADER + "\n", ("header but no data rows",)),
        (HEADER.removesuffix(",tips") + "\n" + ROW.removesuffix(",0.0") + "\n", ("missing column(s) 'tips'",)),
        (HEADER + "\n" + ROW + "\n" + ROW + ",surplus\n", ("malformed rows", "line 3 has 19 fields")),
    ],
    ids=["empty-csv", "header-only", "missing-column", "malformed-row"],
)
def test_bad_csv(tmp_path, workspace, text, expected):
    before = tree_digest(str(workspace / "serving_model"))
    data = _span(tmp_path, text)
    result = run_kfx("run", "--data", str(data), "--workspace", str(workspace))
    _assert_clean_failure(result, workspace, before, str(data / "span-1" / "data.csv"), *expected)


def test_missing_data_path(tmp_path, workspace):
    before = tree_digest(str(workspace / "serving_model"))
    result = run_kfx("run", "--data", str(tmp_path / "nowhere"), "--workspace", str(workspace))
    _assert_clean_failure(result, workspace, before, "nowhere", "does not exist", "--data")


def _config_copy(tmp_path, config_path, text: str):
    """A configuration file next to a copy of the curated schema, as a user's edited copy would be."""
    config = tmp_path / "configs" / "taxi.yaml"
    config.parent.mkdir()
    shutil.copy(os.path.join(os.path.dirname(config_path), "chicago_taxi.schema.pbtxt"), config.parent)
    config.write_text(text)
    return config


def test_unknown_config_key(tmp_path, workspace, config_path):
    with open(config_path) as f:
        raw = yaml.safe_load(f)
    raw["training"]["epochs"] = 5
    config = _config_copy(tmp_path, config_path, yaml.safe_dump(raw))
    before = tree_digest(str(workspace / "serving_model"))
    result = run_kfx("run", "--config", str(config), "--workspace", str(workspace))
    _assert_clean_failure(result, workspace, before, str(config), "unknown key 'training.epochs'")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("\ntraining:", "\ntrainig:", "unknown key 'trainig'; did you mean 'training'?"),
        ("  train_steps: 2000", "  train_step: 2000", "unknown key 'training.train_step'; did you mean 'train_steps'?"),
        ("  batch_size: 256", "  batch_size: big", "training.batch_size must be a whole number, got the text 'big'"),
        ("    auc: 0.90", "    auc: 1.5", "evaluation.thresholds.auc must be in [0, 1], got 1.5"),
        ("[fare, trip_miles,", "[fare, 7,", 'features.numeric[1] must be text, got the number 7; quote it ("7")'),
        ("greater_than: 0.2", "greater_than: yes", "label.greater_than must be a number, got the boolean true"),
        (
            "  label: {max_rate_change: 0.05, confidence: 0.95, action: block}",
            "  label: [0.1, block]",
            "drift.label must be a mapping",
        ),
        ("numeric: [fare, trip_miles, trip_seconds]", "numeric: {fare: z}", "features.numeric must be a list"),
        ("\n  window: 4", "\n\twindow: 4", "found character '\\t' that cannot start any token; indent with spaces"),
        ("\nserving:", "\ntraining: {seed: 1}\nserving:", "key 'training' is given twice in one mapping; keep one"),
        (None, "", "the file is empty"),
    ],
    ids=[
        "misspelt-section",
        "misspelt-key",
        "wrong-type",
        "out-of-range",
        "number-as-column",
        "yes-as-number",
        "list-for-mapping",
        "mapping-for-list",
        "tab",
        "duplicate-section",
        "empty-file",
    ],
)
def test_config_mistakes_are_one_line(tmp_path, workspace, config_path, old, new, expected):
    with open(config_path) as f:
        shipped = f.read()
    assert old is None or old in shipped
    config = _config_copy(tmp_path, config_path, shipped.replace(old, new, 1) if old is not None else new)
    before = tree_digest(str(workspace / "serving_model"))
    result = run_kfx("run", "--config", str(config), "--workspace", str(workspace))
    _assert_clean_failure(result, workspace, before, f"error: {config}: ", expected)


def test_config_error_of_a_command_without_verbose_is_one_line(tmp_path, workspace):
    result = run_kfx("report", "--config", str(tmp_path / "missing.yaml"), "--workspace", str(workspace))
    _assert_clean_failure(result, workspace, tree_digest(str(workspace / "serving_model")), "does not exist")


def test_bad_argument_value(workspace):
    result = run_kfx("run", "--train-steps", "0", "--workspace", str(workspace))
    assert result.returncode == 2 and "expected a positive whole number" in result.stderr
