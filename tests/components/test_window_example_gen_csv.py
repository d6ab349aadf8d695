"""The real WindowExampleGen executor on CSV files as users have them, and on windows it must refuse.

One run reads a window of four spans, each in one shape: Excel's (byte-order mark, CRLF), quoted fields with commas,
quotes and newlines, missing-value tokens with rows lacking a label, and a trailing blank line. The refusals each
run the executor on a small span and expect one `WindowDataError` that says what was found.
"""

import csv
import io

import pytest
import tensorflow_data_validation as tfdv
from example_gen_runs import records, run_executor, serialized
from tensorflow_data_validation.statistics import stats_impl
from tfx_bsl.coders import example_coder

from components.window_example_gen import executor, rows
from pipeline.config import MISSING_VALUES

HEADER = ["fare", "trip_miles", "company", "tips", "shape"]
ROWS = 20  # per span
RULES = rows.Rules(
    label=rows.Label("big_tipper", "tips", greater_than=0.2, times="fare"),
    numeric=("fare", "trip_miles", "tips"),
    missing_values=MISSING_VALUES,
    max_missing_label_fraction=0.1,
    min_rows_per_class=2,
)
QUOTED = ["Taxi, Inc.", "Line one\nline two", 'Say "hi"', "Plain"]
MILES_TOKENS = ["NA", "", "NaN", "null", "N/A", "#N/A"]  # trip_miles of the first rows of the tokens span
NO_LABEL = {18: "NA", 19: ""}  # tips of the last two rows of the tokens span


def _row(index: int, shape: str) -> list[str]:
    fare = 10 + index
    tips = f"{fare * 0.5}" if index % 2 else "0"  # odd rows tip big
    company = QUOTED[index % 4] if shape == "quoted" else "ABC"[index % 3]
    miles = f"{index / 4}"
    if shape == "tokens":
        miles = MILES_TOKENS[index] if index < len(MILES_TOKENS) else miles
        tips = NO_LABEL.get(index, tips)
    return [str(fare), miles, company, tips, shape]


def _csv(lines: list[list[str]], line_end: str = "\n") -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator=line_end).writerows(lines)
    return text.getvalue()


def _write_span(root, span: int, content: bytes) -> None:
    (root / f"span-{span}").mkdir(parents=True)
    (root / f"span-{span}" / "data.csv").write_bytes(content)


def _span_text(shape: str) -> list[list[str]]:
    return [HEADER, *(_row(index, shape) for index in range(ROWS))]


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _write_span(root, 1, _csv(_span_text("excel"), "\r\n").encode("utf-8-sig"))  # as Excel saves "CSV UTF-8"
    _write_span(root, 2, _csv(_span_text("quoted")).encode())
    _write_span(root, 3, _csv(_span_text("tokens")).encode())
    _write_span(root, 4, (_csv(_span_text("blank-tail")) + "\n\n").encode())
    examples = run_executor(str(root), tmp_path_factory.mktemp("examples"), 4, RULES)
    by_shape = {}
    for split in ("train", "eval"):
        for example in records(examples, split):
            by_shape.setdefault(example.features.feature["shape"].bytes_list.value[0].decode(), []).append(example)
    return {"examples": examples, "by_shape": by_shape}


def test_a_byte_order_mark_and_crlf_line_ends_as_excel_writes_them(window):
    excel = window["by_shape"]["excel"]
    assert len(excel) == ROWS
    for example in excel:
        assert sorted(example.features.feature) == sorted(HEADER)  # "fare", not "\ufefffare"
        assert example.features.feature["fare"].WhichOneof("kind") == "int64_list"
    assert sorted(e.features.feature["fare"].int64_list.value[0] for e in excel) == list(range(10, 10 + ROWS))


def test_quoted_fields_keep_their_commas_quotes_and_newlines(window):
    companies = [e.features.feature["company"].bytes_list.value[0].decode() for e in window["by_shape"]["quoted"]]
    assert sorted(companies) == sorted(QUOTED[index % 4] for index in range(ROWS))


def test_a_trailing_blank_line_is_not_a_row(window):
    newest = records(window["examples"], executor.NEWEST_SPLIT)
    assert len(newest) == len(window["by_shape"]["blank-tail"]) == ROWS


def test_missing_value_tokens_leave_a_numeric_column_numeric_and_are_absent(window):
    for split in ("train", "eval", executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT):
        features = [e.features.feature for e in records(window["examples"], split)]
        kinds = {f["trip_miles"].WhichOneof("kind") for f in features if "trip_miles" in f}
        assert kinds == {"float_list"}, split  # not text: TFX's reader types the column string on the first "NA"
    tokens = [e.features.feature for e in window["by_shape"]["tokens"]]
    without_miles = sorted(f["fare"].int64_list.value[0] - 10 for f in tokens if "trip_miles" not in f)
    assert without_miles == list(range(len(MILES_TOKENS)))


def test_statistics_count_missing_value_tokens_as_missing(window):
    rows_of_window = [record for split in ("train", "eval") for record in serialized(window["examples"], split)]
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(rows_of_window)
    statistics = stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())
    features = {f.path.step[0]: f for f in statistics.datasets[0].features}
    assert features["trip_miles"].num_stats.common_stats.num_missing == len(MILES_TOKENS)
    assert features["company"].string_stats.common_stats.num_missing == 0
    assert features["tips"].num_stats.common_stats.num_missing == 0  # rows without a label were left out


def test_rows_without_a_label_are_left_out_and_counted(window):
    examples = window["examples"]
    assert examples.get_int_custom_property(executor.MISSING_LABEL_PROPERTY) == len(NO_LABEL)
    assert sum(len(shape_rows) for shape_rows in window["by_shape"].values()) == 4 * ROWS - len(NO_LABEL)
    assert len(records(examples, executor.PREVIOUS_SPLIT)) == ROWS - len(NO_LABEL)  # the tokens span


def _refusal(tmp_path, lines: list[list[str]], rules: rows.Rules = RULES) -> str:
    _write_span(tmp_path / "data", 1, _csv(lines).encode())
    with pytest.raises(rows.WindowDataError) as error:
        run_executor(str(tmp_path / "data"), tmp_path / "examples", 1, rules)
    return str(error.value)


def test_a_split_with_too_few_rows_of_a_class_stops_the_run(tmp_path):
    lines = [HEADER, *([str(10 + i), "1.0", "A", "9.0" if i in (0, 1, 3) else "0", "x"] for i in range(60))]
    message = _refusal(tmp_path, lines)
    assert message.startswith("eval split: 0 positive and ")
    assert message.endswith(
        "negative rows of big_tipper (tips > 0.2 × fare); need at least 2 of each (data.min_rows_per_class)"
    )


def test_too_many_rows_without_a_label_stop_the_run(tmp_path):
    lines = [HEADER, *([str(10 + i), "1.0", "A", "NA" if i < 5 else str(i % 2 * 9), "x"] for i in range(40))]
    message = _refusal(tmp_path, lines)
    assert message.startswith("5 of the window's 40 rows (12.5%) have no label big_tipper ('tips' or 'fare' missing)")


def test_text_in_a_numeric_column_stops_the_run_naming_cells_and_lines(tmp_path):
    lines = _span_text("quoted")  # line 3 holds a quoted newline: the row after it starts on line 5
    lines[2][1] = lines[3][1] = "about 2"
    message = _refusal(tmp_path, lines)
    path = tmp_path / "data" / "span-1" / "data.csv"
    assert message == (
        f"numeric column 'trip_miles' has 2 cell(s) that are not numbers: 'about 2' on line 3, 'about 2' on line 5 "
        f"of {path}; fix those cells, or list the text under data.missing_values if it means missing"
    )
