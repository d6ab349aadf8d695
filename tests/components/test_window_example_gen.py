"""WindowExampleGen: which spans a run reads, and the real executor on three tiny spans (Beam DirectRunner)."""

import json
import os
import socket

import apache_beam as beam
import pytest
import tensorflow as tf
from example_gen_runs import records, run_executor
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils, standard_component_specs

from components.window_example_gen import executor, resolve, rows, write
from components.window_example_gen import window as window_lib

HEADER = "fare,company,trip_miles\n"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _spans(root, *numbers):
    for number in numbers:
        _write(root / f"span-{number}" / "data.csv", HEADER + f"{number}.5,A,1.0\n")
    return str(root)


def test_the_latest_present_spans_form_the_window_and_a_gap_does_not_shrink_it(tmp_path):
    window = window_lib.resolve(_spans(tmp_path, 1, 3, 7, 12), 3)
    assert (window.spans, window.newest, window.previous) == ((3, 7, 12), 12, 7)
    assert window.available == (1, 3, 7, 12)
    assert window.files == {span: (f"{tmp_path}/span-{span}/data.csv",) for span in (3, 7, 12)}


def test_a_window_of_one_keeps_the_previous_span_for_the_drift_check(tmp_path):
    window = window_lib.resolve(_spans(tmp_path, 2, 5), 1)
    assert (window.spans, window.previous) == ((5,), 2)
    assert sorted(window.files) == [2, 5]


def test_spans_the_drift_check_rejected_are_left_out_and_the_reference_is_given(tmp_path):
    root = _spans(tmp_path, 1, 2, 3, 4, 5, 6)
    window = window_lib.resolve(root, 4, excluded=(5, 3), reference=2)
    # A span left out does not shrink the window; the reference is the last span that passed, not the one before.
    assert (window.spans, window.newest, window.previous, window.excluded) == ((1, 2, 4, 6), 6, 2, (3, 5))
    assert sorted(window.files) == [1, 2, 4, 6]
    assert window_lib.resolve(root, 1, excluded=(5,)).previous == 4  # no reference given: the last one kept
    assert window_lib.resolve(root, 2, newest=5, excluded=(5,)).spans == (4, 5)  # the newest is always read
    with pytest.raises(window_lib.WindowError, match="the drift reference, span 5, is not an earlier span kept"):
        window_lib.resolve(root, 2, excluded=(5,), reference=5)


def test_span_replays_the_past_as_the_newest(tmp_path):
    root = _spans(tmp_path, 1, 2, 3, 4)
    replay = window_lib.resolve(root, 2, newest=3)
    assert (replay.spans, replay.newest, replay.previous) == ((2, 3), 3, 2)
    first = window_lib.resolve(root, 3, newest=1)
    assert (first.spans, first.previous, sorted(first.files)) == ((1,), None, [1])


@pytest.mark.parametrize(
    "setup, size, newest, message",
    [
        (lambda p: str(p / "absent"), 1, None, r"data path '.*absent' does not exist"),
        (lambda p: str(p), 1, None, r"has no \.csv files and no span-<N>/ folders"),
        (lambda p: _spans(p, 1, 2, 4), 2, 3, r"span 3 is not in '.*' \(spans there: 1, 2, 4\)"),
        (lambda p: (p / "span-3").mkdir() or _spans(p, 1, 2), 2, None, r"span folder '.*span-3' has no \.csv files"),
        (lambda p: _spans(p, 1), 0, None, r"the window must hold at least 1 span, got 0"),
        (lambda p: str(_write(p / "a.csv", HEADER).parent), 1, 2, r"--span 2: .* has no span-<N>/ folders"),
        (lambda p: _spans(p, 1, "01"), 1, None, r"'.*span-0?1' and '.*span-0?1' are both span 1; rename or remove one"),
    ],
    ids=[
        "missing-path",
        "no-spans",
        "missing-span",
        "empty-span",
        "window-below-1",
        "span-of-flat-folder",
        "same-span-twice",
    ],  # fmt: skip
)
def test_resolve_errors_name_the_problem(tmp_path, setup, size, newest, message):
    with pytest.raises(window_lib.WindowError, match=message):
        window_lib.resolve(setup(tmp_path), size, newest)


def test_a_folder_of_csv_files_or_one_file_is_span_zero(tmp_path):
    first, second = _write(tmp_path / "b.csv", HEADER), _write(tmp_path / "a.csv", HEADER)
    _write(tmp_path / "notes.txt", "not data")
    flat = window_lib.resolve(str(tmp_path), 3)
    assert (flat.spans, flat.previous, flat.files) == ((0,), None, {0: (str(second), str(first))})
    single = window_lib.resolve(str(first), 3)
    assert (single.spans, single.previous, single.files) == ((0,), None, {0: (str(first),)})


def test_fingerprint_follows_the_files_of_the_window_and_the_previous_span(tmp_path):
    root = _spans(tmp_path, 1, 2, 3, 4)

    def fingerprint():
        return window_lib.resolve(root, 2).fingerprint()  # spans 3, 4; previous 3

    original = fingerprint()
    assert fingerprint() == original
    _write(tmp_path / "span-1" / "data.csv", HEADER + "9.9,Z,9.9\n")  # outside the window
    assert fingerprint() == original
    _write(tmp_path / "span-4" / "data.csv", HEADER + "4.5,A,1.0\n4.5,B,2.0\n")  # rewritten
    rewritten = fingerprint()
    assert rewritten != original
    _write(tmp_path / "span-3" / "more.csv", HEADER)  # added
    assert fingerprint() not in (original, rewritten)


# Three spans with different row counts; `fare` looks integer in span 4 only, and one `company` cell is empty.
SPAN_ROWS = {1: 41, 2: 37, 4: 43}
WINDOW = 2  # spans 2 and 4 (span 3 is missing): 80 rows
RULES = rows.Rules(label=rows.Label("big_fare", "fare", greater_than=30.0), numeric=("fare",), min_rows_per_class=1)


def _span_csv(span, rows):
    lines = []
    for row in range(rows):
        fare = f"{row + 10}" if span == 4 else f"{row + 10}.25"
        company = "" if (span, row) == (2, 5) else "ABC"[row % 3]
        lines.append(f"{fare},{company},{row / 10 + span}\n")
    return HEADER + "".join(lines)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One run of the real executor over the window (spans 2 and 4 of 1, 2, 4), and one replaying span 1."""
    data = tmp_path_factory.mktemp("data")
    for span, count in SPAN_ROWS.items():
        _write(data / f"span-{span}" / "data.csv", _span_csv(span, count))
    output = tmp_path_factory.mktemp("examples")
    latest = run_executor(str(data), output / "latest", WINDOW, RULES)
    first = run_executor(str(data), output / "first", WINDOW, RULES, span=1)
    rejected = run_executor(str(data), output / "rejected", WINDOW, RULES, excluded=(2,), reference=1)
    return {"data": data, "latest": latest, "first": first, "rejected": rejected}


def test_executor_writes_the_window_split_by_hash_and_the_two_drift_spans(generated):
    examples = generated["latest"]
    splits = artifact_utils.decode_split_names(examples.split_names)
    assert sorted(splits) == ["eval", executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT, "train"]
    counts = {split: len(records(examples, split)) for split in splits}
    assert counts["train"] + counts["eval"] == SPAN_ROWS[2] + SPAN_ROWS[4]
    assert counts["train"] > counts["eval"] > 0
    assert counts[executor.NEWEST_SPLIT] == SPAN_ROWS[4]
    assert counts[executor.PREVIOUS_SPLIT] == SPAN_ROWS[2]
    newest_miles = sorted(
        e.features.feature["trip_miles"].float_list.value[0] for e in records(examples, "newest_span")
    )
    assert newest_miles[0] == pytest.approx(4.0) and newest_miles[-1] == pytest.approx(4.0 + (SPAN_ROWS[4] - 1) / 10)


def test_a_column_is_typed_once_for_every_span(generated):
    examples = generated["latest"]
    for split in ("train", "eval", executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT):
        kinds = {e.features.feature["fare"].WhichOneof("kind") for e in records(examples, split)}
        assert kinds == {"float_list"}, split  # span 4 alone would be read as integers
    previous = [e.features.feature for e in records(examples, executor.PREVIOUS_SPLIT)]
    assert len(previous) == SPAN_ROWS[2]  # the empty cell is a missing value, not a dropped row
    companies = [f["company"].bytes_list.value[0].decode() for f in previous if "company" in f]
    assert sorted(companies) == sorted("ABC"[row % 3] for row in range(37) if row != 5)


def test_the_artifact_records_the_spans_and_the_files_read(generated):
    examples, data = generated["latest"], generated["data"]
    assert examples.span == 4
    assert examples.get_int_custom_property(executor.SPAN_PROPERTY) == 4
    assert examples.get_string_custom_property(executor.WINDOW_PROPERTY) == "2,4"
    assert examples.get_int_custom_property(executor.PREVIOUS_PROPERTY) == 2
    expected = window_lib.resolve(str(data), WINDOW)
    assert examples.get_string_custom_property(executor.FINGERPRINT_PROPERTY) == expected.fingerprint()
    files = json.loads(examples.get_string_custom_property(executor.FILES_PROPERTY))
    assert files == {str(span): [str(data / f"span-{span}" / "data.csv")] for span in (2, 4)}
    assert examples.get_string_custom_property(executor.SPAN_FINGERPRINT_PROPERTY) == expected.span_fingerprint(4)
    assert examples.get_string_custom_property(executor.EXCLUDED_PROPERTY) == ""


def test_a_span_the_drift_check_rejected_is_never_read(generated):
    examples = generated["rejected"]  # span 2 rejected: the window of 2 is spans 1 and 4, compared with span 1
    assert examples.get_string_custom_property(executor.WINDOW_PROPERTY) == "1,4"
    assert examples.get_int_custom_property(executor.PREVIOUS_PROPERTY) == 1
    assert examples.get_string_custom_property(executor.EXCLUDED_PROPERTY) == "2"
    assert len(records(examples, "train")) + len(records(examples, "eval")) == SPAN_ROWS[1] + SPAN_ROWS[4]
    assert len(records(examples, executor.PREVIOUS_SPLIT)) == SPAN_ROWS[1]
    files = json.loads(examples.get_string_custom_property(executor.FILES_PROPERTY))
    assert sorted(files) == ["1", "4"]


# Rows and positives of big_fare (fare > 30): from row 20 of a span of x.25 fares, from row 21 of span 4's whole ones.
LABEL_COUNTS = {1: (41, 21), 2: (37, 17), 4: (43, 22)}


def test_the_artifact_records_the_rows_and_positives_of_each_drift_split(generated):
    examples = generated["latest"]
    for split, span in zip((executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT), (4, 2), strict=True):
        labeled, positive = executor.LABEL_COUNT_PROPERTIES[split]
        counted = (examples.get_int_custom_property(labeled), examples.get_int_custom_property(positive))
        fares = [e.features.feature["fare"].float_list.value[0] for e in records(examples, split)]
        assert counted == (len(fares), sum(fare > 30.0 for fare in fares)) == LABEL_COUNTS[span], split


def test_a_single_span_has_nothing_to_compare_and_no_drift_splits(generated):
    examples = generated["first"]
    assert examples.span == 1 and examples.get_string_custom_property(executor.WINDOW_PROPERTY) == "1"
    assert examples.get_int_custom_property(executor.PREVIOUS_PROPERTY) == -1  # nothing to compare
    assert sorted(artifact_utils.decode_split_names(examples.split_names)) == ["eval", "train"]
    assert sorted(os.listdir(examples.uri)) == ["Split-eval", "Split-train"]
    assert not any(
        examples.has_custom_property(name) for pair in executor.LABEL_COUNT_PROPERTIES.values() for name in pair
    )
    assert len(records(examples, "train")) + len(records(examples, "eval")) == SPAN_ROWS[1]


def test_the_drift_splits_link_the_window_files_instead_of_writing_the_rows_again(generated):
    examples = generated["latest"]  # span 2 and 4 are both in the window: both drift splits are links
    for split in (executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT):
        folder = artifact_utils.get_split_uri([examples], split)
        for name in os.listdir(folder):
            source_split = name.split("-")[1]  # data_tfrecord-<split>-<span>-<file>-<shard>.gz
            source = os.path.join(artifact_utils.get_split_uri([examples], source_split), name)
            assert os.path.samefile(os.path.join(folder, name), source), name
    rejected = generated["rejected"]  # span 1 is in the window too; with a window of 1 it would be written
    assert len(records(rejected, executor.PREVIOUS_SPLIT)) == SPAN_ROWS[1]


def test_rows_are_written_as_encoded_without_a_reshuffle_in_shards(tmp_path, monkeypatch):
    # No Reshuffle (a GroupByKey of every row, which the in-memory runner holds whole) and no Beam writer after the
    # encoding step: its rows go to files as they are encoded (the one GroupByKey left combines column types).
    applied = []
    original = beam.Pipeline.apply

    def apply(pipeline, transform, *args, **kwargs):
        applied.append(type(transform).__name__)
        return original(pipeline, transform, *args, **kwargs)

    monkeypatch.setattr(beam.Pipeline, "apply", apply)
    monkeypatch.setattr(write, "SHARD_BYTES", 200)  # span 4's file (about 560 bytes): 3 shards per split
    data = tmp_path / "data"
    _write(data / "span-4" / "data.csv", _span_csv(4, SPAN_ROWS[4]))
    examples = run_executor(str(data), tmp_path / "out", 1, RULES)
    assert "WriteSpans" in applied and not {"Reshuffle", "WriteToTFRecord"} & set(applied)
    folder = artifact_utils.get_split_uri([examples], "train")
    shards = sorted(os.listdir(folder))
    assert shards == [f"data_tfrecord-train-{shard:05d}-00004-00000.gz" for shard in range(3)]
    for shard in shards:  # each shard samples the whole file: rows from its first and its last third
        miles = [
            e.features.feature["trip_miles"].float_list.value[0] - 4 for e in records_of(os.path.join(folder, shard))
        ]
        assert min(miles) < SPAN_ROWS[4] / 30 and max(miles) > 2 * SPAN_ROWS[4] / 30, shard
    assert sum(len(records_of(os.path.join(folder, shard))) for shard in shards) == len(records(examples, "train"))


def _empty_metadata(path) -> str:
    """An ML Metadata SQLite file with nothing recorded yet (what a first run finds)."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    metadata_store.MetadataStore(config)
    return str(path)


def _resolver_args(root, output_dir, metadata) -> list[str]:
    return [
        "--data-path", root, "--window", "2", "--pipeline-name", "chicago-taxi", "--metadata", metadata,
        "--output-file", str(output_dir / "custom_config.json"), "--acceptance-file", str(output_dir / "acceptance"),
    ]  # fmt: skip


def test_resolver_writes_the_custom_config_of_the_newest_span(tmp_path, capsys):
    root = _spans(tmp_path / "data", 1, 2, 5)
    output_file = tmp_path / "out" / "custom_config.json"
    assert resolve.main(_resolver_args(root, tmp_path / "out", _empty_metadata(tmp_path / "m.sqlite"))) == 0
    assert "spans [2, 5] of [1, 2, 5]" in capsys.readouterr().out
    text = output_file.read_text()
    settings = executor.settings_of({standard_component_specs.CUSTOM_CONFIG_KEY: text})
    expected = window_lib.resolve(root, 2)
    assert settings["span"] == 5 and settings["resolved_spans"] == [2, 5]
    assert settings["fingerprint"] == expected.fingerprint()
    assert (settings["excluded_spans"], settings["reference_span"]) == ([], 2)  # no verdicts yet: the span before
    assert (tmp_path / "out" / "acceptance").read_text() == "{}"
    # The executor reads this parameter as its custom_config and resolves the same window.
    replayed = executor.window_of({standard_component_specs.CUSTOM_CONFIG_KEY: text})
    assert replayed == expected
    _spans(tmp_path / "data", 6)  # a span landing after the resolver ran is not read by this run
    assert executor.window_of({standard_component_specs.CUSTOM_CONFIG_KEY: text}).newest == 5


def test_resolver_fails_with_one_line_on_a_missing_data_path(tmp_path, capsys):
    metadata = _empty_metadata(tmp_path / "m.sqlite")
    code = resolve.main(_resolver_args(str(tmp_path / "absent"), tmp_path, metadata))
    assert code == 1 and not (tmp_path / "custom_config.json").exists()
    assert capsys.readouterr().err.strip().splitlines() == [f"error: data path '{tmp_path / 'absent'}' does not exist"]


def test_resolver_fails_with_one_line_when_ml_metadata_does_not_answer(tmp_path, capsys):
    with socket.socket() as probe:  # a loopback port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = resolve.main(_resolver_args(_spans(tmp_path / "data", 1, 2), tmp_path, f"grpc://127.0.0.1:{port}"))
    assert code == 1 and not (tmp_path / "custom_config.json").exists()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: cannot read the drift verdicts in ML Metadata at grpc://127.0.0.1:{port}: ")


def records_of(path: str) -> list[tf.train.Example]:
    return [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(path, "GZIP").as_numpy_iterator()]
