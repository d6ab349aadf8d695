"""Drift scenarios over copies of the shipped spans, with the real pipeline up to DriftStop and real ML Metadata.

Each run resolves its window as `kfx run` does (the verdicts recorded in the workspace's ML Metadata, read back by
components/drift_gate/ledger.py), then runs the pipeline's own nodes up to DriftStop with LocalDagRunner (TFX's
partial run: WindowExampleGen, ImportSchemaGen, StatisticsGen, DistributionValidator, DriftGate, DriftStop):
  spans 1-2 as shipped (passes) -> span 3 with trip_miles x1.3 (rejected) ->
    branch A: span 4 as shipped (passes against span 2; span 3 is left out, no file touched)
    branch B: span 4 with "Credit Card" gaining 20 points of share (rejected against span 2), then the same span
              accepted with --accept-drift's path (accepted, recorded with who and when).
"""

import getpass
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import CONFIG_PATH, REPO, tree_digest

from components.drift_gate import executor as drift_executor
from components.drift_gate import ledger, policy
from pipeline import config as config_lib
from pipeline import data as data_lib

pytestmark = pytest.mark.e2e  # five partial pipeline runs: minutes

SHIPPED = os.path.join(REPO, "data", "chicago_taxi")
DRIFT_STOP = "DriftStop"


def _project(root, spans: dict[int, pd.DataFrame]) -> dict:
    for span, frame in spans.items():
        (root / "data" / f"span-{span}").mkdir(parents=True, exist_ok=True)
        frame.to_csv(root / "data" / f"span-{span}" / "data.csv", index=False)
    with open(CONFIG_PATH) as f:
        raw = yaml.safe_load(f)
    raw["data"]["path"] = str(root / "data")
    raw["data"]["schema"] = os.path.join(os.path.dirname(CONFIG_PATH), raw["data"]["schema"])
    raw["data"]["window"] = 2
    return {"root": root, "config": config_lib.parse(raw, str(root / "config.yaml")), "workspace": root / "ws"}


def _shipped(span: int) -> pd.DataFrame:
    return pd.read_csv(os.path.join(SHIPPED, f"span-{span}", "data.csv"), keep_default_na=False, dtype=str)


def _run(project: dict, accept_drift: str | None = None) -> tuple[data_lib.DataSource, Exception | None]:
    """Resolves the window with the recorded verdicts, as `kfx run` does, and runs the pipeline up to DriftStop."""
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local import local_dag_runner

    from pipeline import pipeline as pipeline_lib

    config, workspace = project["config"], project["workspace"]
    metadata_path = str(workspace / "metadata.sqlite")
    verdicts = (
        ledger.read(ledger.connect(metadata_path), config.pipeline_name)
        if os.path.isfile(metadata_path)
        else ledger.Ledger()
    )
    source = data_lib.locate(config.data.path, config.data.window, None, verdicts, accept_drift)
    built = pipeline_lib.create_pipeline(
        config,
        pipeline_root=str(workspace / "pipelines"),
        data_path=source.data_path,
        input_base=source.input_base,
        input_pattern=source.pattern,
        drift_plan=source.drift_plan,
        serving_model_dir=str(workspace / "serving_model" / "chicago_taxi"),
        metadata_connection_config=metadata.sqlite_metadata_connection_config(metadata_path),
    )
    try:
        local_dag_runner.LocalDagRunner().run(built, run_options=tfx_pipeline.RunOptions(to_nodes=[DRIFT_STOP]))
    except drift_executor.DriftError as error:
        return source, error
    return source, None


def _verdicts(project: dict) -> dict[int, ledger.Verdict]:
    metadata_path = str(project["workspace"] / "metadata.sqlite")
    return ledger.read(ledger.connect(metadata_path), project["config"].pipeline_name).verdicts


def _blocking(error: Exception) -> list[str]:
    """The features named on the lines of DriftStop's message."""
    return sorted(line.split("'")[1] for line in str(error).splitlines()[1:] if line.strip().startswith("feature '"))


@pytest.fixture(scope="module")
def rejected(tmp_path_factory) -> dict:
    """Spans 1-2 as shipped (run 1), then span 3 with trip_miles x1.3 (run 2)."""
    project = _project(tmp_path_factory.mktemp("drift-scenarios"), {1: _shipped(1), 2: _shipped(2)})
    first = _run(project)
    scaled = _shipped(3)
    miles = pd.to_numeric(scaled["trip_miles"], errors="coerce")
    scaled["trip_miles"] = np.where(miles.notna(), (miles * 1.3).round(2).astype(str), scaled["trip_miles"])
    _project(project["root"], {3: scaled})
    return {**project, "first": first, "second": _run(project)}


def _branch(rejected: dict, root, span_4: pd.DataFrame) -> dict:
    """A copy of the rejected stage's data and workspace, with span 4 added."""
    shutil.copytree(rejected["root"] / "data", root / "data")
    shutil.copytree(rejected["workspace"], root / "ws")
    return _project(root, {4: span_4})


def test_a_natural_span_passes_and_a_scaled_numeric_feature_is_rejected(rejected):
    (_, first_error), (_, second_error) = rejected["first"], rejected["second"]
    assert first_error is None
    assert second_error is not None and _blocking(second_error) == ["trip_miles"]
    assert "median change" in str(second_error) and "kfx run --accept-drift" in str(second_error)
    verdicts = _verdicts(rejected)
    assert (verdicts[2].verdict, verdicts[2].reference) == (policy.PASSED, 1)
    assert (verdicts[3].verdict, verdicts[3].reference) == (policy.REJECTED, 2)


def test_the_next_normal_span_passes_against_the_last_accepted_one_without_touching_a_file(rejected, tmp_path):
    project = _branch(rejected, tmp_path, _shipped(4))
    data_before = tree_digest(str(tmp_path / "data"))
    source, error = _run(project)
    assert error is None, error
    assert (source.window.spans, source.window.previous, source.window.excluded) == ((2, 4), 2, (3,))
    verdicts = _verdicts(project)
    assert (verdicts[4].verdict, verdicts[4].reference) == (policy.PASSED, 2)
    assert verdicts[3].verdict == policy.REJECTED  # still rejected: never a reference
    assert tree_digest(str(tmp_path / "data")) == data_before


def test_a_categorical_share_shift_is_rejected_and_accept_drift_accepts_it_on_record(rejected, tmp_path):
    shifted = _shipped(4)
    others = shifted.index[shifted["payment_type"] != "Credit Card"]
    moved = np.random.default_rng(4).choice(others, round(0.2 * len(shifted)), replace=False)
    shifted.loc[moved, "payment_type"] = "Credit Card"  # 20 more points of share
    project = _branch(rejected, tmp_path, shifted)
    _, error = _run(project)
    assert error is not None and _blocking(error) == ["payment_type"] and "L-infinity distance" in str(error)
    assert _verdicts(project)[4].verdict == policy.REJECTED

    source, error = _run(project, accept_drift="new card readers")
    assert error is None, error
    assert source.drift_plan.acceptance is not None and source.window.previous == 2
    accepted = _verdicts(project)[4]  # read back from ML Metadata: the latest verdict on span 4
    assert (accepted.verdict, accepted.reference, accepted.note) == (policy.ACCEPTED, 2, "new card readers")
    assert accepted.accepted_by.startswith(getpass.getuser() + "@") and accepted.accepted_at.endswith("+00:00")
    # A later plan for span 5 would compare it with span 4: an accepted span is a reference.
    assert ledger.Ledger(_verdicts(project)).reference(5, (1, 2, 3, 4, 5)) == 4
