"""`kfx feedback`'s package: outcome files (CSV, JSON lines) into the real SQLite store, idempotently."""

import sqlite3
import threading

import pytest
from prediction_logs import Logged, write_logs

from feedback import ingest, store
from monitoring.request_logs import LogError


def _stored(path):
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute("SELECT request_id, row, label, outcome_time FROM outcomes"))


def test_the_same_file_ingested_twice_counts_once(tmp_path):
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("request_id,label\n" + "".join(f"r{i},{i % 2}\n" for i in range(50)))
    path = store.path(str(tmp_path / "ws"))
    first = ingest.ingest([str(outcomes)], path)
    again = ingest.ingest([str(outcomes)], path)
    assert (first.read, first.new, first.repeated) == (50, 50, 0)
    assert (again.read, again.new, again.repeated, again.conflicts) == (50, 0, 50, [])
    assert len(_stored(path)) == 50 and store.count(path) == 50
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_csv_and_json_lines_say_the_same_in_any_order_and_batches(tmp_path):
    csv_file = tmp_path / "a.csv"
    csv_file.write_text(
        "time,label,request_id,row,comment\n"
        "2026-01-31T12:00:00Z,1,abc,0,big tip\n"
        "1769860800,false,abc,1,\n"
        ",TRUE,def,,\n"
        "2026-01-31T13:00:00,0,ghi,2,naive times are UTC\n"
    )
    lines = tmp_path / "b.jsonl"
    lines.write_text(
        '{"request_id": "ghi", "row": 2, "label": 0, "time": "2026-01-31T13:00:00+00:00"}\n\n'
        '{"request_id": "def", "label": true}\n'
        '{"request_id": "abc", "row": 1, "label": "0", "time": 1769860800}\n'
        '{"request_id": "abc", "label": 1, "time": 1769860800.0}\n'
    )
    expected = [("abc", 0, 1, 1769860800.0), ("abc", 1, 0, 1769860800.0), ("def", 0, 1, None),
                ("ghi", 2, 0, 1769864400.0)]  # fmt: skip
    as_csv, as_json = str(tmp_path / "csv.sqlite"), str(tmp_path / "json.sqlite")
    assert ingest.ingest([str(csv_file)], as_csv).new == 4
    assert ingest.ingest([str(lines)], as_json).new == 4
    assert _stored(as_csv) == _stored(as_json) == expected
    # In two batches, the second first: the same store, nothing counted twice.
    both = str(tmp_path / "both.sqlite")
    assert ingest.ingest([str(lines)], both).new == 4
    result = ingest.ingest([str(csv_file), str(lines)], both)
    assert (result.read, result.new, result.repeated) == (8, 0, 8) and _stored(both) == expected


def test_a_repeated_id_with_another_label_is_a_conflict_and_the_first_label_is_kept(tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("request_id,label\nr1,1\nr2,0\nr2,1\n")  # r2 contradicts itself within one batch
    second.write_text("request_id,label\nr1,0\n")
    path = str(tmp_path / "o.sqlite")
    within = ingest.ingest([str(first)], path)
    later = ingest.ingest([str(second)], path)
    assert within.new == 2 and [(c.request_id, c.kept_label, c.refused_label) for c in within.conflicts] == [
        ("r2", 0, 1)
    ]
    assert later.new == 0 and [(c.request_id, c.kept_label, c.source) for c in later.conflicts] == [
        ("r1", 1, f"{second}:2")
    ]
    assert _stored(path) == [("r1", 0, 1, None), ("r2", 0, 0, None)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM conflicts").fetchone() == (2,)


def test_bad_rows_are_named_by_line_column_and_value_and_the_good_ones_stored(tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "request_id,label,row,time\n"
        "ok1,1,0,\n"
        "ok2,maybe,0,\n"
        "has space,1,0,\n"
        "ok3,0,-1,\n"
        "ok4,0,0,yesterday\n"
        "ok5,1\n"
        ",1,0,\n"
    )
    lines = tmp_path / "bad.jsonl"
    lines.write_text(
        '{"request_id": "j1", "label": 1}\nnot json\n[1, 2]\n{"label": 1}\n{"request_id": "j2", "label": 2}\n'
        '{"request_id": "j3", "label": 1, "row": 9999999999}\n{"request_id": "j4", "label": 1, "time": NaN}\n'
    )
    result = ingest.ingest([str(csv_file), str(lines)], str(tmp_path / "o.sqlite"))
    assert result.new == 2
    found = [(bad.file.rsplit("/", 1)[1], bad.line, bad.column, bad.value) for bad in result.bad]
    assert found == [
        ("bad.csv", 3, "label", "maybe"),
        ("bad.csv", 4, "request_id", "has space"),
        ("bad.csv", 5, "row", "-1"),
        ("bad.csv", 6, "time", "yesterday"),
        ("bad.csv", 7, None, "ok5,1"),
        ("bad.csv", 8, "request_id", ""),
        ("bad.jsonl", 2, None, "not json"),
        ("bad.jsonl", 3, None, "[1, 2]"),
        ("bad.jsonl", 4, "request_id", ""),
        ("bad.jsonl", 5, "label", "2"),
        ("bad.jsonl", 6, "row", "9999999999"),
        ("bad.jsonl", 7, "time", "nan"),
    ]
    messages = [str(bad) for bad in result.bad]
    assert messages[0].endswith("line 3, column label: 'maybe': expected 0, 1, true or false")
    assert "ISO 8601" in messages[3] and "4 fields" not in messages[4] and "2 fields" in messages[4]
    assert messages[8].endswith("column request_id: '': missing")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "is empty"),
        ("id,label\nr1,1\n", r"the header has no request_id column \(it has: id, label\)"),
        ("request_id,label\nr1,1\nr\0,1\n", r"bad.csv line 3: not CSV \(line contains NUL\)"),
    ],
)
def test_a_file_that_cannot_be_read_stores_nothing(tmp_path, text, expected):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("request_id,label\nr1,1\n")
    bad.write_text(text)
    path = str(tmp_path / "o.sqlite")
    with pytest.raises(ingest.FeedbackError, match=expected):
        ingest.ingest([str(good), str(bad)], path)
    with pytest.raises(ingest.FeedbackError, match="cannot read .*missing.csv"):
        ingest.ingest([str(tmp_path / "missing.csv")], path)
    assert store.count(path) == 0


def test_ids_no_logged_request_had_are_counted_as_unknown_and_stored(tmp_path):
    logs = write_logs(str(tmp_path / "logs"), [Logged("a", 1, "stable", [0.2, 0.8]), Logged("b", 2, "canary", [0.5])])
    outcomes = tmp_path / "o.jsonl"
    outcomes.write_text(
        '{"request_id": "a", "label": 0}\n{"request_id": "a", "row": 1, "label": 1}\n'
        '{"request_id": "a", "row": 2, "label": 1}\n{"request_id": "b", "label": 1}\n{"request_id": "zz", "label": 0}\n'
    )
    result = ingest.ingest([str(outcomes)], str(tmp_path / "o.sqlite"), logs=logs)
    assert (result.new, result.unknown, result.unknown_ids) == (5, 2, ["a", "zz"])  # row 2 of a was never logged
    unchecked = ingest.ingest([str(outcomes)], str(tmp_path / "o2.sqlite"))
    assert (unchecked.logs, unchecked.unknown) == (None, 0)
    with pytest.raises(LogError, match="no request log files match"):
        ingest.ingest([str(outcomes)], str(tmp_path / "o3.sqlite"), logs=str(tmp_path / "nowhere"))


def test_batches_ingested_at_the_same_time_count_each_outcome_once(tmp_path):
    path, results = str(tmp_path / "o.sqlite"), []
    files = []
    for batch in range(4):  # overlapping halves: every id is in two batches
        rows = "".join(f"r{i},{i % 2}\n" for i in range(batch * 50, batch * 50 + 100))
        files.append(tmp_path / f"batch{batch}.csv")
        files[-1].write_text("request_id,label\n" + rows)
    threads = [threading.Thread(target=lambda f=f: results.append(ingest.ingest([str(f)], path))) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.new for r in results) == store.count(path) == 250
    assert sum(r.repeated for r in results) == 150 and not any(r.conflicts for r in results)
