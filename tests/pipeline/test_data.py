"""Input discovery and the structural CSV checks that run before the pipeline starts."""

import pytest

from pipeline import data

HEADER = "fare,company,tips\n"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_highest_span_is_read(tmp_path):
    _write(tmp_path / "span-1" / "a.csv", HEADER + "1.0,A,0.1\n")
    _write(tmp_path / "span-12" / "b.csv", HEADER + "2.0,B,0.2\n")
    _write(tmp_path / "span-3" / "c.csv", HEADER + "3.0,C,0.3\n")
    source = data.locate(str(tmp_path))
    assert (source.span, source.pattern) == (12, data.SPAN_PATTERN)
    assert source.files == (str(tmp_path / "span-12" / "b.csv"),)


def test_single_file_and_flat_folder(tmp_path):
    csv = _write(tmp_path / "d" / "x.csv", HEADER + "1.0,A,0.1\n")
    assert data.locate(str(csv)).pattern == "x.csv"
    assert data.locate(str(tmp_path / "d")).pattern == "*.csv"


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
