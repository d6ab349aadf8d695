"""pipeline/schema_columns.py: a curated schema that does not describe the data's columns is refused before any run."""

import os

import yaml
from conftest import CONFIG_PATH, REPO, TAXI_CSV, run_kfx

from pipeline import schema_columns
from profiling import sample

TAXI_SCHEMA = os.path.join(REPO, "configs", "chicago_taxi.schema.pbtxt")


def test_the_shipped_schema_describes_the_shipped_data():
    header = sample.read(TAXI_CSV).columns
    assert len(header) == 18 and schema_columns.problem(TAXI_SCHEMA, header) is None


def test_columns_on_either_side_only_are_named(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("fare;Sex (M/F);tips\n1;M;0\n")
    header = sample.read(str(path)).columns  # the delimiter is detected, as the run does
    assert header == ["fare", "Sex (M/F)", "tips"]
    assert schema_columns.problem(TAXI_SCHEMA, header) == (
        f"data.schema '{TAXI_SCHEMA}' does not describe this data: 16 column(s) in the schema but not in the data "
        "('company', 'dropoff_census_tract', 'dropoff_community_area', 'dropoff_latitude', 'dropoff_longitude', "
        "'payment_type', 'pickup_census_tract', 'pickup_community_area' and 8 more); 1 column(s) in the data but not "
        "in it ('Sex (M/F)'); remove the data.schema line to validate against the schema inferred from the data, or "
        "fix the schema"
    )


def test_kfx_run_stops_on_it_before_any_component(tmp_path):
    """The taxi config with its schema kept, on data with one more column: one line, exit 2, nothing run."""
    with open(TAXI_CSV) as f:
        header, *rows = f.read().splitlines()[:200]
    (tmp_path / "data.csv").write_text("".join(f"{line}\n" for line in [f"{header},extra", *(f"{r},x" for r in rows)]))
    with open(CONFIG_PATH) as f:
        config = yaml.safe_load(f)
    config["data"] |= {"path": str(tmp_path / "data.csv"), "schema": TAXI_SCHEMA, "window": 1}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_kfx("run", "--config", str(path), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        f"error: {path}: data.schema '{TAXI_SCHEMA}' does not describe this data: 1 column(s) in the data but not in "
        "it ('extra'); remove the data.schema line to validate against the schema inferred from the data, or fix the "
        "schema\n"
    )
    assert not (tmp_path / "ws" / "pipeline_root").exists()
