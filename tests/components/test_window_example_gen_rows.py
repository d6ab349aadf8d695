"""The row rules of WindowExampleGen (pure Python): CSV records, missing cells, numbers, the label, the messages."""

import io

import pytest

from components.window_example_gen import rows

TIPPER = rows.Label("big_tipper", "tips", greater_than=0.2, times="fare")
RULES = rows.Rules(
    label=TIPPER, numeric=("fare", "tips", "trip_miles"), missing_values=("", "NA", "null"), min_rows_per_class=10
)


def _records(text: str) -> list[tuple[int, list[str]]]:
    return list(rows.records(io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8-sig", newline="")))


def test_records_number_physical_lines_across_quoted_newlines_crlf_and_blank_lines():
    text = '\ufefffare,company\r\n1.5,"Taxi, Inc."\r\n\r\n2.5,"Line one\r\nline two"\r\n3.5,"Say ""hi"""\r\n\r\n'
    assert _records(text) == [
        (1, ["fare", "company"]),  # no byte-order mark in the first name
        (2, ["1.5", "Taxi, Inc."]),
        (4, ["2.5", "Line one\r\nline two"]),  # the quoted line end is the field's own
        (6, ["3.5", 'Say "hi"']),  # after the two-line record: the line an editor shows
    ]


@pytest.mark.parametrize(
    "cell, number",
    [("12", 12.0), ("-3", -3.0), ("1.5e3", 1500.0), (" 7 ", 7.0), (".5", 0.5), ("free", None), ("1,5", None)],
)
def test_numbers_are_read_as_tfx_bsl_types_a_column(cell, number):
    assert rows.parse_number(cell) == number


def test_an_integer_beyond_int64_is_not_a_number_as_column_typing_would_make_it_a_string():
    assert rows.parse_number(str(2**63 - 1)) == float(2**63 - 1)
    assert rows.parse_number(str(2**63)) is None


def test_missing_tokens_are_exact_and_case_sensitive_as_in_pandas():
    row = {"fare": "NA", "tips": "na", "trip_miles": "null"}
    assert [RULES.is_missing(cell) for cell in row.values()] == [True, False, True]
    tally = rows.Tally()
    RULES.count_non_numbers(list(row), [(2, list(row.values()))], "a.csv", tally)
    assert tally.non_numbers == {"tips": 1}  # "na" is text, not a token


def test_every_row_is_labelled_and_each_bad_cell_counted_once_per_row_with_a_few_samples():
    header = ["tips", "fare", "trip_miles"]
    batch = [
        (line, [tips, "10", miles])
        for line, tips, miles in [
            (2, "3", "1"),
            (3, "x", "1"),
            (4, "2", "far"),
            (5, "x", "far"),
            (6, "", "NA"),
            (7, "x", "1"),
        ]
    ]
    batch += [(line, ["x", "10", "1"]) for line in range(8, 8 + rows.SAMPLES)]
    tally = rows.Tally()
    RULES.count_non_numbers(header, batch, "span.csv", tally)
    labels = RULES.labels(header, batch)
    # A label needs its columns to be numbers: text in tips leaves the row without one.
    assert labels[:6] == [True, None, False, None, None, None]
    assert tally.non_numbers == {"tips": 3 + rows.SAMPLES, "trip_miles": 2}
    assert tally.samples["tips"] == [("span.csv", line, "x") for line in (3, 5, 7, 8, 9)][: rows.SAMPLES]
    assert tally.samples["trip_miles"] == [("span.csv", 4, "far"), ("span.csv", 5, "far")]


@pytest.mark.parametrize(
    "tips, fare, label",
    [("3", "10", True), ("2", "10", False), ("", "10", None), ("NA", "10", None), ("3", "null", None)],
)
def test_the_label_rule_on_a_row_and_a_missing_label(tips, fare, label):
    (found,) = RULES.labels(["tips", "fare", "trip_miles"], [(2, [tips, fare, "1"])])
    assert found is label


def test_a_categorical_label_rule():
    rules = rows.Rules(label=rows.Label("churned", "status", one_of=("gone", "left")))
    batch = [(line, [status]) for line, status in enumerate(("left", "stayed", ""), start=2)]
    assert rules.labels(["status"], batch) == [True, False, None]
    assert rules.label.describe() == "churned (status is one of gone, left)"


SEX = ["MALE", "Male", " male ", "FEMALE", "female", ".", "", "unknown"]


@pytest.mark.parametrize(
    "negative, other, fold_case, expected",
    [
        ((), "stop", False, [True, False, False, False, False, False, None, False]),  # as before: all else negative
        (("FEMALE",), "stop", False, [True, rows.OTHER, rows.OTHER, False, rows.OTHER, rows.OTHER, None, rows.OTHER]),
        (("FEMALE",), "drop", True, [True, True, True, False, False, rows.OTHER, None, rows.OTHER]),
        ((), "stop", True, [True, True, True, False, False, False, None, False]),
    ],
    ids=["one-of-only", "negative", "negative-folded", "folded"],
)
def test_a_categorical_label_with_named_negatives_and_case_folding(negative, other, fold_case, expected):
    label = rows.Label("male", "sex", one_of=("MALE",), negative=negative, other=other, fold_case=fold_case)
    batch = [(line, [sex]) for line, sex in enumerate(SEX, start=2)]
    assert rows.Rules(label=label).labels(["sex"], batch) == expected


def test_folding_is_the_graphs_lower_and_ascii_strip():
    assert rows.Label.fold(" \tMale\r\n") == "male"
    assert rows.Label.fold("\u00a0MALE") == "\u00a0male"  # tf.strings.strip leaves non-ASCII spaces


def test_rules_with_label_classes_and_a_dialect_travel_as_json_unchanged():
    label = rows.Label("male", "sex", one_of=("MALE", "M"), negative=("FEMALE",), other="drop", fold_case=True)
    rules = rows.Rules(label=label, categorical=("region",), delimiter=";", encoding="cp1252")
    assert rows.Rules.from_json(rules.to_json()) == rules
    assert label.describe() == "male (sex is one of MALE, M, not FEMALE)"


def test_rules_travel_as_json_unchanged():
    assert rows.Rules.from_json(RULES.to_json()) == RULES
    assert TIPPER.describe() == "big_tipper (tips > 0.2 × fare)"


def test_text_in_a_numeric_column_names_the_column_a_few_cells_with_their_lines_and_the_fix():
    samples = {"fare": [("b.csv", 9, "free"), ("a.csv", 12, "n/a"), ("a.csv", 3, "?")]}
    assert RULES.non_number_problem({"fare": 40}, samples) == (
        "numeric column 'fare' has 40 cell(s) that are not numbers: '?' on line 3, 'n/a' on line 12 of a.csv and "
        "'free' on line 9 of b.csv; fix those cells, or list the text under data.missing_values if it means missing"
    )
    assert RULES.non_number_problem({}, {}) is None


def test_missing_labels_stop_the_run_only_above_the_configured_share():
    assert RULES.missing_label_problem(5, 100) is None  # 5% is allowed
    message = RULES.missing_label_problem(6, 100)
    assert message == (
        "6 of the window's 100 rows (6.0%) have no label big_tipper ('tips' or 'fare' missing), more than "
        "data.max_missing_label_fraction allows (5.0%); fill in those cells or raise the limit"
    )


def test_a_split_with_one_class_or_too_few_of_either_says_what_was_found():
    assert RULES.class_problem("eval split", 812, 10) is None
    assert RULES.class_problem("eval split", 812, 0) == (
        "eval split: 0 positive and 812 negative rows of big_tipper (tips > 0.2 × fare); need at least 10 of each "
        "(data.min_rows_per_class)"
    )
    window = RULES.class_problem("the rows to train on", 4387, 19, splits=2)
    assert window.endswith("need at least 20 of each (data.min_rows_per_class, 10 for each of train and eval)")


def test_a_threshold_label_without_a_scale_column():
    rules = rows.Rules(label=rows.Label("long_trip", "trip_miles", greater_than=5.0), numeric=("trip_miles",))
    batch = [(line, [miles]) for line, miles in enumerate(["7", "5", "", "nan", "12.5", "far", "7"], start=2)]
    assert rules.labels(["trip_miles"], batch) == [True, False, None, None, True, None, True]
