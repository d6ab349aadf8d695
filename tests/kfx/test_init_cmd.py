"""`kfx init`: a configuration written from a sample of the data, through the real CLI; the file validates."""

import os

import odd_csv
import pytest
import yaml
from conftest import REPO, run_kfx

from kfx import cli
from pipeline import config as config_lib


def test_init_on_the_shipped_taxi_data_writes_a_config_that_validates(tmp_path):
    output = tmp_path / "taxi.yaml"
    result = run_kfx("init", os.path.join(REPO, "data", "chicago_taxi"), "--label", "tips>0", "--output", str(output))
    assert result.returncode == 0, result.stderr
    config = config_lib.load(str(output))
    assert config.data.path == os.path.join(REPO, "data", "chicago_taxi") and config.data.window == 4
    assert config.features.label.column == "tips" and config.features.label.greater_than == 0.0
    assert "tips" not in config.features.raw_features
    assert set(config.features.bucketized) == {
        "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"
    }  # fmt: skip
    assert {"payment_type", "company", "trip_start_hour"} <= set(config.features.categorical)
    assert "trip_start_timestamp" not in config.features.raw_features
    assert 0.55 <= config.evaluation.thresholds["auc"] < 1 and "accuracy" not in config.evaluation.thresholds
    lines = result.stdout.splitlines()
    assert lines[0].startswith("data: 4 file(s), 15,002 rows, ") and "delimiter ',' (detected)" in lines[0]
    assert "  'trip_start_timestamp'    left out: a date or time stamp (its name says so)" in result.stdout
    assert lines[-1].startswith(f"wrote {output}; next: kfx config check --data --config {output}")
    check = run_kfx("config", "check", "--data", "--config", str(output))
    assert check.returncode == 0, check.stderr
    assert "no findings" in check.stdout


@pytest.fixture(scope="module")
def odd_data(tmp_path_factory) -> str:
    return odd_csv.write(str(tmp_path_factory.mktemp("odd") / "Clinic export.csv"), 600)


def test_init_on_a_csv_of_odd_columns_states_each_decision(odd_data, tmp_path, capsys):
    output = tmp_path / "clinic.yaml"
    assert cli.main(["init", odd_data, "--label", "outcome", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    config = config_lib.load(str(output))
    roles = {column: "numeric" for column in config.features.numeric}
    roles |= {column: "bucketized" for column in config.features.bucketized}
    roles |= {column: "categorical" for column in config.features.categorical}
    expected = {column: role for column, role in odd_csv.EXPECTED_ROLES.items() if role not in ("left out", "label")}
    assert roles == expected
    label = config.features.label
    assert (label.column, label.one_of, label.negative, label.other) == ("outcome", ("yes",), ("no",), "stop")
    assert (config.data.delimiter, config.data.missing_values[-1]) == (";", "?")
    assert "delimiter ';' (detected)" in out
    assert "label outcome_label: positive 'yes' (" in out and "'yes' reads as yes" in out
    assert "data.missing_values: the defaults plus '?' (punctuation among numbers: missing)" in out
    assert "'notes'        left out: free text: " in out
    assert "baseline: AUC 0." in out
    assert config.pipeline_name == "clinic-export" and config.serving.model_name == "Clinic_export"


def test_init_refuses_to_overwrite_and_a_many_valued_label_without_its_values(odd_data, tmp_path, capsys):
    output = tmp_path / "taken.yaml"
    output.write_text("mine\n")
    assert cli.main(["init", odd_data, "--label", "outcome", "--output", str(output)]) == 2
    assert (
        capsys.readouterr().err == f"error: '{output}' exists; pass --force to overwrite it, or --output another file\n"
    )
    assert output.read_text() == "mine\n"
    assert cli.main(["init", odd_data, "--label", "grade", "--output", str(tmp_path / "grade.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: label column 'grade' has 4 values ('")
    assert err.endswith(
        "name the positive ones: --label 'grade=V1,V2' (and --negative V3 to leave the rest out), or a numeric rule: "
        "--label 'grade>X'\n"
    )
    assert not (tmp_path / "grade.yaml").exists()
    assert (
        cli.main(["init", odd_data, "--label", "grade=3,4", "--negative", "1", "--output", str(output), "--force"]) == 0
    )
    written = yaml.safe_load(output.read_text())["label"]
    assert (written["one_of"], written["negative"], written["other"]) == (["3", "4"], ["1"], "drop")
    assert "rows of other values are left out ('2' " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("mean radius>high", "--label 'mean radius>high': 'high' is not a number; write COLUMN>X"),
        ("Outcome", "--label 'Outcome': no such column; the header is: patient_id, mean radius, "),
        ("outcome=Yes", "label value(s) ['Yes'] do not occur in 'outcome' in the sample; its values: 'yes' "),
    ],
)
def test_a_label_the_data_does_not_allow_is_one_line(odd_data, tmp_path, capsys, label, message):
    assert cli.main(["init", odd_data, "--label", label, "--output", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
