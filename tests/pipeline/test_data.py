"""Input discovery and the structural CSV checks that run before the pipeline starts."""

import pytest

from pipeline import data

HEADER = "fare,company,tips\n"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _spans(tmp_path, *numbers):
    for number in numbers:
        _write(tmp_path / f"span-{number}" / "data.csv", HEADER + f"{number}.0,A,0.1\n")
    return str(tmp_path)


def test_the_newest_span_and_the_window_before_it_are_read(tmp_path):
    source = data.locate(_spans(tmp_path, 1, 3, 12, 7), window=2)
    assert source.window.spans == (7, 12) and source.window.newest == 12 and source.window.previous == 7
    assert source.pattern == data.SPANS_PATTERN and source.has_spans
    assert source.files == (str(tmp_path / "span-7" / "data.csv"), str(tmp_path / "span-12" / "data.csv"))


def test_a_chosen_span_replays_the_past_and_the_window_stops_at_the_first_span(tmp_path):
    window = data.locate(_spans(tmp_path, 1, 2, 3, 4), window=3, span=2).window
    assert (window.spans, window.previous, window.available) == ((1, 2), 1, (1, 2, 3, 4))
    first = data.locate(str(tmp_path), window=3, span=1).window
    assert (first.spans, first.previous) == ((1,), None)  # no earlier span: nothing to compare for drift
    assert sorted(first.files) == [1]


def test_a_window_of_one_still_reads_the_previous_span_for_the_drift_check(tmp_path):
    source = data.locate(_spans(tmp_path, 1, 2), window=1)
    assert source.window.spans == (2,) and source.window.previous == 1
    assert len(source.files) == 2


def test_a_missing_span_names_the_spans_there(tmp_path):
    with pytest.raises(data.DataError, match=r"span 9 is not in .* \(spans there: 1, 2\)"):
        data.locate(_spans(tmp_path, 1, 2), window=2, span=9)


def test_single_file_and_flat_folder_are_one_span(tmp_path):
    csv = _write(tmp_path / "d" / "x.csv", HEADER + "1.0,A,0.1\n")
    assert data.locate(str(csv)).pattern == "x.csv"
    flat = data.locate(str(tmp_path / "d"))
    assert flat.pattern == "*.csv" and not flat.has_spans and flat.window.previous is None


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: _write(p / "notes.txt", "x"), "is not a .csv file"),
        (lambda p: (p / "empty_dir").mkdir() or p / "empty_dir", "has no .csv files"),
    ],
)
def test_locate_errors(tmp_path, setup, message):
    with pytest.raises(data.DataError, match=message):
        data.locate(str(setup(tmp_path)))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        (HEADER, "has a header but no data rows"),
        ("fare,company\n1.0,A\n", "missing column\\(s\\) 'tips'"),
        (HEADER + "1.0,A,0.1\n2.0,B\n3.0,C,0.3,extra\n", "line 3 has 2 fields; line 4 has 4 fields"),
        ("fare,company,tips,fare\n1,A,3,4\n", "repeats column"),
    ],
)
def test_csv_errors_name_the_file_and_problem(tmp_path, text, message):
    csv = _write(tmp_path / "data.csv", text)
    with pytest.raises(data.DataError, match=message) as info:
        data.check_csv_files([str(csv)], ["fare", "company", "tips"])
    assert str(csv) in str(info.value)


def test_files_of_one_span_must_share_a_header(tmp_path):
    first = _write(tmp_path / "a.csv", HEADER + "1.0,A,0.1\n")
    second = _write(tmp_path / "b.csv", "tips,fare,company\n0.1,1.0,A\n")
    with pytest.raises(data.DataError, match="different header"):
        data.check_csv_files([str(first), str(second)], ["fare"])


def test_good_files_report_their_row_count(tmp_path):
    first = _write(tmp_path / "a.csv", HEADER + '1.0,"A, Inc.",0.1\n2.0,,0.2\n')
    assert data.check_csv_files([str(first)], ["fare", "company", "tips"]) == 2
