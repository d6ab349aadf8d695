"""Input discovery and the CSV checks that run before the pipeline starts: structure, numbers, labels."""

import csv
import dataclasses
import itertools

import pytest
import yaml

from components.window_example_gen import rows
from pipeline import config as config_lib
from pipeline import config_label, data
from pipeline.config import MISSING_VALUES

HEADER = "fare,company,tips\n"
COLUMNS = ["fare", "company", "tips"]
TIPPER = rows.Label("big_tipper", "tips", greater_than=0.2, times="fare")
# Structure only: any label balance passes.
ANY_LABELS = rows.Rules(label=TIPPER, numeric=("fare", "tips"), missing_values=MISSING_VALUES, min_rows_per_class=0)
RULES = rows.Rules(label=TIPPER, numeric=("fare", "tips"), missing_values=MISSING_VALUES, min_rows_per_class=2)


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
    path = _write(tmp_path / "data.csv", text)
    with pytest.raises(data.DataError, match=message) as info:
        data.check_csv_files([str(path)], COLUMNS, ANY_LABELS)
    assert str(path) in str(info.value)


def test_files_of_one_span_must_share_a_header(tmp_path):
    first = _write(tmp_path / "a.csv", HEADER + "1.0,A,0.1\n")
    second = _write(tmp_path / "b.csv", "tips,fare,company\n0.1,1.0,A\n")
    with pytest.raises(data.DataError, match="different header"):
        data.check_csv_files([str(first), str(second)], ["fare"], ANY_LABELS)


def test_good_files_report_their_row_count(tmp_path):
    first = _write(tmp_path / "a.csv", HEADER + '1.0,"A, Inc.",0.1\n2.0,,0.2\n')
    checked = data.check_csv_files([str(first)], COLUMNS, ANY_LABELS)
    assert (checked.rows, checked.missing_label, checked.other_label) == (2, 0, 0)
    assert checked.label_counts == "big_tipper: 0 positive, 2 negative"
    assert checked.dialect.describe() == "delimiter ',' (detected), encoding utf-8 (detected)"


def _balanced(count: int = 8) -> str:
    """`count` rows, every other one a big tipper."""
    return "".join(f"{10 + i},A,{9 if i % 2 else 0}\n" for i in range(count))


def _check(tmp_path, content: bytes, rules: rows.Rules = RULES) -> data.DataCheck:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    return data.check_csv_files([str(path)], COLUMNS, rules)


def test_an_excel_file_with_a_byte_order_mark_and_crlf_line_ends_is_read(tmp_path):
    content = (HEADER + _balanced()).replace("\n", "\r\n").encode("utf-8-sig")
    checked = _check(tmp_path, content)
    assert (checked.rows, checked.missing_label) == (8, 0)  # 'fare' found, no '\r' in tips
    assert checked.label_counts == "big_tipper: 4 positive, 4 negative"


def test_quoted_fields_with_commas_quotes_and_newlines_are_one_cell(tmp_path):
    quoted = '1.5,"Taxi, Inc.",0\n2.5,"Line one\nline two",9\n3.5,"Say ""hi""",0\n'
    assert _check(tmp_path, (HEADER + quoted + _balanced()).encode()).rows == 11


def test_a_trailing_blank_line_is_not_a_row(tmp_path):
    assert _check(tmp_path, (HEADER + _balanced() + "\n\n").encode()).rows == 8


def test_missing_value_tokens_are_missing_numbers_but_other_text_names_its_cells_and_lines(tmp_path):
    tokens = "NA,A,0\n,A,0\nnull,B,0\n" + "N/A,C,0\n"  # no fare, so no label either
    checked = _check(
        tmp_path, (HEADER + _balanced() + tokens).encode(), dataclasses.replace(RULES, max_missing_label_fraction=0.5)
    )
    assert (checked.rows, checked.missing_label) == (12, 4)
    text = '1.5,"Line one\nline two",0\nabout 3,A,0\n4,B,na\n'  # "na" is no token: pandas' are case-sensitive
    with pytest.raises(data.DataError) as info:
        _check(tmp_path, (HEADER + text + _balanced()).encode())
    path = tmp_path / "data.csv"
    assert str(info.value).startswith(
        f"numeric column 'fare' has 1 cell(s) that are not numbers: 'about 3' on line 4 of {path}; "
        f"numeric column 'tips' has 1 cell(s) that are not numbers: 'na' on line 5 of {path}; fix those cells"
    )


def test_rows_without_a_label_are_counted_and_too_many_stop_the_run(tmp_path):
    lenient = dataclasses.replace(RULES, max_missing_label_fraction=0.2)
    checked = _check(tmp_path, (HEADER + _balanced() + "10,A,\n,A,3\n").encode(), lenient)
    assert (checked.rows, checked.missing_label) == (10, 2)  # a missing tip, and a missing fare (label.times)
    assert checked.describe() == "10 rows; 2 without a label, left out"
    with pytest.raises(data.DataError, match=r"^3 of the window's 10 rows \(30.0%\) have no label big_tipper"):
        _check(tmp_path, (HEADER + _balanced(7) + "10,A,\n11,A,NA\n,A,3\n").encode(), lenient)


def test_only_the_window_counts_for_labels_not_the_previous_span_read_for_drift(tmp_path):
    previous = _write(tmp_path / "span-1" / "data.csv", HEADER + "10,A,\n" * 5)
    newest = _write(tmp_path / "span-2" / "data.csv", HEADER + _balanced())
    files = [str(previous), str(newest)]
    checked = data.check_csv_files(files, COLUMNS, RULES, window_files=[str(newest)])
    assert (checked.rows, checked.missing_label) == (13, 0)


def test_a_single_class_label_stops_the_run_before_anything_runs(tmp_path, taxi_config, taxi_csv):
    """The issue's case: a span whose fares were multiplied by 10 has (almost) no big tippers left."""
    span = tmp_path / "span-1"
    span.mkdir()
    with open(taxi_csv, newline="") as source, open(span / "data.csv", "w", newline="") as target:
        reader, writer = csv.DictReader(source), csv.writer(target)
        writer.writerow(reader.fieldnames)
        for row in itertools.islice(reader, 600):
            writer.writerow([str(float(row["fare"]) * 10) if name == "fare" else row[name] for name in row])
    with pytest.raises(data.DataError) as info:
        data.check(data.locate(str(tmp_path), taxi_config.data.window), taxi_config)
    assert str(info.value) == (
        "the rows to train on: 0 positive and 600 negative rows of big_tipper (tips > 0.2 × fare); need at least 20 "
        "of each (data.min_rows_per_class, 10 for each of train and eval)"
    )


def test_the_shipped_data_passes_every_check(taxi_config):
    source = data.locate(taxi_config.data.path, taxi_config.data.window)
    checked = data.check(source, taxi_config)
    assert (checked.rows, checked.missing_label, checked.other_label) == (15002, 0, 0)
    assert checked.dialect.describe() == "delimiter ',' (detected), encoding utf-8 (detected)"
    assert checked.label_counts.startswith("big_tipper: ") and " positive, " in checked.label_counts


@pytest.mark.parametrize(
    "label",
    [
        {"name": "big_tipper", "column": "tips", "greater_than": 0.2, "times": "fare"},
        {"name": "in_loop", "column": "pickup_census_tract", "one_of": ["17031839100", 1]},
    ],
    ids=["numeric", "categorical"],
)
def test_the_graph_and_the_row_reader_get_the_configured_label_field_for_field(config_path, label):
    with open(config_path) as f:
        raw = {**yaml.safe_load(f), "label": label}
    config = config_lib.parse(raw, config_path)
    section = dataclasses.asdict(config_label.LabelSection(**label))  # the file's `label:`, validated
    assert dataclasses.asdict(config.features.label) == section  # the graph's LabelRule
    assert dataclasses.asdict(data.rules_of(config).label) == section  # what ExampleGen and the pre-check read


SEX = rows.Label("male", "sex", one_of=("MALE",), negative=("FEMALE",), other="drop")


def test_the_label_counts_name_each_value_its_class_and_what_is_left_out(tmp_path):
    lines = "age,sex\n" + "31,MALE\n" * 3 + "45,FEMALE\n" * 2 + "50,.\n" + "51,NA\n" * 2
    path = _write(tmp_path / "data.csv", lines)
    rules = rows.Rules(
        label=SEX, numeric=("age",), missing_values=MISSING_VALUES, max_missing_label_fraction=0.5, min_rows_per_class=1
    )
    checked = data.check_csv_files([str(path)], ["age", "sex"], rules)
    assert (
        checked.label_counts
        == "male (sex): MALE 3 -> positive, FEMALE 2 -> negative, . 1 -> other (left out), missing 2"
    )
    assert checked.describe() == "8 rows; 2 without a label, 1 with another label value, left out"
    assert (checked.positive, checked.negative, checked.other_label, checked.missing_label) == (3, 2, 1, 2)
    assert checked.label_values == {"MALE": 3, "FEMALE": 2, "NA": 2, ".": 1}


def test_a_categorical_column_with_more_than_a_tenth_of_text_is_text_not_stray_cells(tmp_path):
    lines = "age,ca,tips,fare\n" + "".join(f"{i},{'x' if i % 8 == 0 else i % 3},{i % 2},1\n" for i in range(40))
    path = _write(tmp_path / "data.csv", lines)
    rules = rows.Rules(label=TIPPER, numeric=("age",), categorical=("ca",), min_rows_per_class=1)
    assert data.check_csv_files([str(path)], ["age", "ca", "tips", "fare"], rules).rows == 40  # 5 of 40: text
    path.write_text(lines.replace(",x,", ",4,", 1))  # 4 of 40: stray text among whole numbers
    with pytest.raises(data.DataError, match=r"categorical column 'ca' holds whole numbers \(36 cells\) and 4 text"):
        data.check_csv_files([str(path)], ["age", "ca", "tips", "fare"], rules)
