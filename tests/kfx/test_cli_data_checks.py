"""`kfx run` on data a new user brings: the delimiter, the encoding, label classes, empty features and integer
categoricals with stray text. Each mistake is one line naming the key, the values, the counts and the fix, exit code 2,
before any component runs (about a second each); data that is fine gets past these checks to the class counts.
"""

import pytest
import yaml
from conftest import run_kfx

LABEL = {"name": "male", "column": "sex", "one_of": ["MALE"], "negative": ["FEMALE"]}


def _project(tmp_path, rows: list[list[str]], label: dict | None = None, data: dict | None = None, **features):
    """A configuration and its one CSV file (`rows`, header first, cells joined by data.delimiter or ',')."""
    delimiter = (data or {}).get("delimiter", ",")
    encoding = (data or {}).get("file_encoding", "utf-8")
    text = "".join(delimiter.join(row) + "\n" for row in rows)
    (tmp_path / "data.csv").write_bytes(text.encode(encoding))
    settings = {key: value for key, value in (data or {}).items() if key != "file_encoding"}
    config = {
        "pipeline_name": "new-data",
        "data": {"path": "data.csv", **settings},
        "label": label or LABEL,
        "features": features or {"numeric": ["age"], "categorical": ["region"]},
        "training": {},
        "evaluation": {},
        "serving": {"model_name": "new_data"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _error(tmp_path, config) -> str:
    result = run_kfx("run", "--config", str(config), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not (tmp_path / "ws" / "pipeline_root").exists()  # no component ran
    return lines[0].removeprefix("error: ")


HEADER = ["age", "region", "sex"]
# Three of each class: past every check but the class counts (data.min_rows_per_class).
BALANCED = [["31", "north", "MALE"], ["45", "south", "FEMALE"]] * 3
TOO_FEW = "3 positive and 3 negative rows of male (sex is one of MALE, not FEMALE); need at least 20 of each"


def test_a_semicolon_file_is_read_with_the_detected_delimiter(tmp_path):
    config = _project(tmp_path, [HEADER, *BALANCED], data={"delimiter": ";"})
    config.write_text(config.read_text().replace("delimiter: ;", "delimiter: auto"))
    assert TOO_FEW in _error(tmp_path, config)  # the columns were found: the file was read as ';'-separated


def test_a_wrong_delimiter_names_the_one_the_header_seems_to_use(tmp_path):
    config = _project(tmp_path, [HEADER, *BALANCED], data={"delimiter": ";"})
    config.write_text(config.read_text().replace("delimiter: ;", "delimiter: ','"))
    assert _error(tmp_path, config) == (
        f"'{tmp_path / 'data.csv'}' is missing column(s) 'age', 'region', 'sex' that the config uses (features or "
        "label); its header is: age;region;sex; it looks ';'-separated: set data.delimiter to ';'"
    )


def test_a_cp1252_file_is_read_as_such_unless_the_config_says_utf8(tmp_path):
    rows = [HEADER, *([["31", "Besançon", "MALE"], ["45", "Orléans", "FEMALE"]] * 3)]
    detected = _project(tmp_path, rows, data={"file_encoding": "cp1252"})
    assert TOO_FEW in _error(tmp_path, detected)
    given = _project(tmp_path, rows, data={"file_encoding": "cp1252", "encoding": "utf-8"})  # ç: 23rd byte
    assert _error(tmp_path, given) == (
        f"'{tmp_path / 'data.csv'}' is not utf-8 text: byte 0xe7 at offset 23 does not decode; set data.encoding to "
        "the file's encoding (e.g. cp1252, latin-1)"
    )


OTHERS = [["30", "east", "Male"], ["31", "east", "male "], ["32", "east", "."], *[["33", "east", "unknown"]] * 3]


def test_label_values_in_neither_class_stop_the_run_with_their_counts(tmp_path):
    config = _project(tmp_path, [HEADER, *BALANCED, *OTHERS])
    assert _error(tmp_path, config) == (
        "label column 'sex' has values in neither label.one_of nor label.negative: 'unknown' 3, '.' 1, 'Male' 1, "
        "'male ' 1; list them under one_of or negative, set label.fold_case: true for case/space variants, or set "
        "label.other: drop to leave those rows out"
    )


def test_fold_case_takes_case_and_space_variants_and_names_only_the_rest(tmp_path):
    config = _project(tmp_path, [HEADER, *BALANCED, *OTHERS], label={**LABEL, "fold_case": True})
    assert _error(tmp_path, config) == (
        "label column 'sex' has values in neither label.one_of nor label.negative: 'unknown' 3, '.' 1; list them "
        "under one_of or negative, or set label.other: drop to leave those rows out"
    )


def test_dropped_label_values_are_not_counted_as_missing_labels(tmp_path):
    rows = [HEADER, *[["31", "north", "MALE"], ["45", "south", "FEMALE"]] * 25, *OTHERS, *[["40", "west", ""]] * 3]
    config = _project(tmp_path, rows, label={**LABEL, "other": "drop"})
    assert _error(tmp_path, config) == (  # 3 missing, not 9: the 6 other values are left out but not missing
        "3 of the window's 59 rows (5.1%) have no label male ('sex' missing), more than "
        "data.max_missing_label_fraction allows (5.0%); fill in those cells or raise the limit"
    )


def test_a_feature_without_any_value_is_named_before_transform_would_fail(tmp_path):
    rows = [[*HEADER, "income"], *([*row, "NA" if index % 2 else ""] for index, row in enumerate(BALANCED))]
    config = _project(tmp_path, rows, numeric=["age", "income"], categorical=["region"])
    assert _error(tmp_path, config) == (
        "feature column(s) 'income' have no value in any of the window's 6 rows (every cell is empty or one of "
        "data.missing_values); remove them from features or fill them in"
    )


@pytest.mark.parametrize("missing", [None, ["", "?"]], ids=["stops", "listed-as-missing"])
def test_text_among_a_categorical_columns_whole_numbers_is_named(tmp_path, missing):
    rows = [["age", "ca", "sex"], *([str(30 + i), str(i % 4), ("FEMALE", "MALE")[i % 2]] for i in range(40))]
    rows += [["50", "?", "MALE"], ["51", "?", "FEMALE"]]
    data = {"min_rows_per_class": 30, **({"missing_values": missing} if missing else {})}
    message = _error(tmp_path, _project(tmp_path, rows, data=data, numeric=["age"], categorical=["ca"]))
    if missing is None:
        assert message == (
            "categorical column 'ca' holds whole numbers (40 cells) and 2 text cell(s): '?' 2; fix those cells, or "
            "list them under data.missing_values if they mean missing (as '?' does in UCI data)"
        )
    else:  # '?' means missing: on to the class counts
        assert "21 positive and 21 negative rows of male" in message
