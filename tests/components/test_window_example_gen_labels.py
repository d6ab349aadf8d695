"""The real WindowExampleGen executor with explicit label classes and a file in another dialect: on Kubeflow it is
the only reader, so it must keep, drop and refuse the rows `kfx run`'s pre-check does, with the same words."""

import pytest
from example_gen_runs import records, run_executor

from components.window_example_gen import executor, rows

HEADER = ["age", "region", "ca", "sex"]
SEX = rows.Label("male", "sex", one_of=("MALE",), negative=("FEMALE",), other="drop", fold_case=True)
RULES = rows.Rules(
    label=SEX,
    numeric=("age",),
    categorical=("region", "ca"),
    missing_values=("", "NA"),
    max_missing_label_fraction=0.15,  # 10% have no label; with the other values they would be 20%
    min_rows_per_class=2,
)
# Per 10 rows: 4 positive (one a case/space variant), 4 negative, 1 other value, 1 missing label.
SEXES = ["MALE", "FEMALE", "Male ", "female", "MALE", "FEMALE", "MALE", "FEMALE", ".", ""]
ROWS = 60


def _write(root, lines: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> str:
    (root / "span-1").mkdir(parents=True)
    text = "".join(delimiter.join(line) + "\n" for line in lines)
    (root / "span-1" / "data.csv").write_bytes(text.encode(encoding))
    return str(root)


def _lines(sexes=SEXES, ca=lambda index: str(index % 3)) -> list[list[str]]:
    regions = ["Besançon", "Orléans", "Nîmes"]
    return [HEADER, *([str(20 + i), regions[i % 3], ca(i), sexes[i % len(sexes)]] for i in range(ROWS))]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """A ';'-separated cp1252 file (as a French spreadsheet exports it), read with the settings left to auto."""
    root = _write(tmp_path_factory.mktemp("data"), _lines(), ";", "cp1252")
    return run_executor(root, tmp_path_factory.mktemp("examples"), 1, RULES)


def test_a_semicolon_cp1252_file_is_read_column_by_column(examples):
    kept = records(examples, "train") + records(examples, "eval")
    features = {name for example in kept for name in example.features.feature}
    assert features == set(HEADER)
    regions = {example.features.feature["region"].bytes_list.value[0].decode() for example in kept}
    assert regions == {"Besançon", "Orléans", "Nîmes"}
    assert {example.features.feature["ca"].int64_list.value[0] for example in kept} == {0, 1, 2}  # still integers


def test_other_label_values_are_left_out_and_counted_but_not_as_missing(examples):
    kept = records(examples, "train") + records(examples, "eval")
    sexes = sorted({example.features.feature["sex"].bytes_list.value[0].decode() for example in kept})
    assert sexes == ["FEMALE", "MALE", "Male ", "female"]  # the raw values: folding decides the class only
    assert len(kept) == ROWS * 8 // 10
    assert examples.get_int_custom_property(executor.OTHER_LABEL_PROPERTY) == ROWS // 10
    assert examples.get_int_custom_property(executor.MISSING_LABEL_PROPERTY) == ROWS // 10


def _refusal(tmp_path, lines: list[list[str]], rules: rows.Rules) -> str:
    with pytest.raises(rows.WindowDataError) as error:
        run_executor(_write(tmp_path / "data", lines), tmp_path / "examples", 1, rules)
    return str(error.value)


def test_other_label_values_stop_the_run_with_their_counts_as_the_pre_check_does(tmp_path):
    stop = rows.Rules(**{**RULES.__dict__, "label": rows.Label(**{**SEX.__dict__, "other": "stop"})})
    assert _refusal(tmp_path, _lines(), stop) == (
        "label column 'sex' has values in neither label.one_of nor label.negative: '.' 6; list them under one_of or "
        "negative, or set label.other: drop to leave those rows out"
    )


def test_a_feature_without_any_value_stops_the_run(tmp_path):
    message = _refusal(tmp_path, _lines(ca=lambda index: "NA"), RULES)
    assert message.startswith("feature column(s) 'ca' have no value in any of the window's 60 rows")


def test_text_among_a_categorical_columns_whole_numbers_stops_the_run(tmp_path):
    message = _refusal(tmp_path, _lines(ca=lambda index: "?" if index < 2 else str(index % 3)), RULES)
    assert message == (
        "categorical column 'ca' holds whole numbers (58 cells) and 2 text cell(s): '?'; fix those cells, or list "
        "them under data.missing_values if they mean missing (as '?' does in UCI data)"
    )
