"""The files of the session's real run, read through TFX's helpers from its ML Metadata records: as TFX recorded
them, and as Kubeflow Pipelines records the same artifacts (TFX's properties kept as custom properties)."""

import os
import re

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.drift_gate.executor import NEWEST_SPLIT, PREVIOUS_SPLIT
from monitoring import artifacts
from monitoring import store as store_lib


@pytest.fixture(scope="module")
def first_run(e2e_project, e2e_first_run) -> store_lib.RunRecord:
    """The records of the session's first `kfx run` (the end-to-end tests may add later runs)."""
    run_id = re.search(r"^Run (\S+)", e2e_first_run.stdout, re.MULTILINE).group(1)
    store = store_lib.connect(os.path.join(e2e_project["workspace"], "metadata.sqlite"))
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    return store_lib.run_record(store, context, e2e_project["pipeline"])


def _as_kfp_records_it(record: metadata_store_pb2.Artifact) -> metadata_store_pb2.Artifact:
    """The artifact as `kfp_metadata.KfpView` returns a KFP-written one: every property a custom property."""
    kfp = metadata_store_pb2.Artifact(uri=record.uri, type=record.type, state=record.state)
    for name, value in [*record.properties.items(), *record.custom_properties.items()]:
        kfp.custom_properties[name].CopyFrom(value)
    return kfp


def _rows(record: metadata_store_pb2.Artifact) -> dict[str, int]:
    statistics = artifacts.statistics(record)
    return {split: artifacts.load_statistics(statistics, split).datasets[0].num_examples for split in statistics.splits}


@pytest.mark.e2e
def test_statistics_of_every_split_as_tfx_and_as_kfp_record_them(first_run):
    record = first_run.output("StatisticsGen", "statistics")
    rows = _rows(record)
    # A first run's window is its only span: nothing to compare, so no drift splits to summarise.
    assert set(rows) == {"train", "eval"} and rows["train"] > rows["eval"] > 0
    assert _rows(_as_kfp_records_it(record)) == rows
    # The control: TFX's own class alone finds no splits on the KFP record.
    unconverted = standard_artifacts.ExampleStatistics()
    unconverted.set_mlmd_artifact(_as_kfp_records_it(record))
    assert unconverted.splits == []


@pytest.mark.e2e
def test_anomalies_of_example_validator_and_of_the_distribution_validator(first_run):
    validation = first_run.output("ExampleValidator", "anomalies")
    for record in (validation, _as_kfp_records_it(validation)):
        found = artifacts.anomalies(record)
        assert set(found.splits) == {"train", "eval"}
        for split in found.splits:
            anomalies = artifacts.load_anomalies(found, split)
            assert anomalies.baseline.feature and not anomalies.anomaly_info, split  # read, and the run passed

    drift = first_run.output("DistributionValidator", "anomalies")
    for record in (drift, _as_kfp_records_it(drift)):
        found = artifacts.anomalies(record)
        assert found.splits == []  # one span: no pair to compare, and the run went on
        assert artifacts.load_split_pair_anomalies(found, NEWEST_SPLIT, PREVIOUS_SPLIT) is None
