"""The scale series' data: resampled deterministically, noisy where it should be, readable as the sample is."""

import csv
import os

import pytest

from bench import scale_data
from pipeline import config as config_lib
from pipeline import data as data_lib

CONFIG = os.path.join(scale_data.REPO, "configs", "chicago_taxi.yaml")


def _rows(folder: str) -> dict[str, list[dict]]:
    found = {}
    for span in sorted(os.listdir(folder)):
        if span.startswith("span-"):
            with open(os.path.join(folder, span, "data.csv"), newline="") as f:
                found[span] = list(csv.DictReader(f))
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return [scale_data.generate(6_000, str(root / name)) for name in ("a", "b")]


def test_the_same_size_gives_the_same_files(generated):
    first, second = generated
    for span in sorted(os.listdir(scale_data.SAMPLE)):
        with (
            open(os.path.join(first, span, "data.csv"), "rb") as a,
            open(os.path.join(second, span, "data.csv"), "rb") as b,
        ):
            assert a.read() == b.read(), span


def test_spans_keep_their_share_and_rows_are_noisy_copies_of_the_sample(generated):
    rows, sample = _rows(generated[0]), _rows(scale_data.SAMPLE)
    assert sum(map(len, rows.values())) == pytest.approx(6_000, abs=len(rows))
    for span, span_rows in rows.items():
        assert len(span_rows) == pytest.approx(6_000 * len(sample[span]) / 15_002, abs=1)
        fares = [row["fare"] for row in span_rows if row["fare"]]
        assert len(set(fares)) > 0.5 * len(fares)  # noise: not the sample's few hundred distinct fares
        assert all(row["trip_seconds"].isdigit() for row in span_rows if row["trip_seconds"])  # still integers
        assert {row["company"] for row in span_rows} <= {row["company"] for row in sample[span]}


def test_the_generated_data_passes_the_runs_own_checks(generated):
    config = config_lib.load(CONFIG)
    checked = data_lib.check(data_lib.locate(generated[0], config.data.window), config)
    assert checked.rows == sum(map(len, _rows(generated[0]).values()))


def test_the_one_csv_shape_holds_the_same_rows_in_one_file(generated, tmp_path):
    folder = scale_data.generate(6_000, str(tmp_path / "one"), shape=scale_data.ONE_CSV)
    assert sorted(os.listdir(folder)) == [scale_data.COMPLETE, "data.csv"]
    with open(os.path.join(folder, "data.csv"), newline="") as f:
        one = list(csv.DictReader(f))
    assert one == [row for span_rows in _rows(generated[0]).values() for row in span_rows]
    assert scale_data.default_folder(6_000, scale_data.ONE_CSV).endswith("taxi-6000-one")
