"""The configuration's label classes, CSV dialect and column names: checked when the file is loaded, and passed field
for field to the graph and the row reader (the sweeps of test_config.py cover every key's type and range)."""

import dataclasses

import pytest
from conftest import config_error

from pipeline import config as config_lib

SEX = {"name": "male", "column": "sex", "one_of": ["MALE"]}


@pytest.mark.parametrize(
    "label, expected",
    [
        (
            {"name": "big_tipper", "column": "tips", "greater_than": 0.2, "negative": ["0"]},
            "label: 'negative' only applies together with 'one_of' (a categorical label)",
        ),
        (
            {"name": "big_tipper", "column": "tips", "greater_than": 0.2, "fold_case": True},
            "label: 'fold_case' only applies together with 'one_of'",
        ),
        ({**SEX, "other": "drop"}, "label: 'other' only applies together with 'negative'"),
        ({**SEX, "negative": ["FEMALE", "MALE"]}, "label: 'MALE' in both 'one_of' and 'negative'; list each"),
        (
            {**SEX, "negative": ["male "], "fold_case": True},
            "label: 'male' in both 'one_of' and 'negative' (case and surrounding spaces ignored: fold_case)",
        ),
        ({**SEX, "negative": ["F"], "other": "skip"}, "label.other must be one of 'stop', 'drop', got 'skip'"),
        ({**SEX, "fold_case": "yes"}, "label.fold_case must be true or false, got the text 'yes'"),
    ],
    ids=["negative-numeric", "fold-numeric", "other-without-negative", "in-both", "in-both-folded", "other", "fold"],
)
def test_label_classes_are_checked_when_loaded(raw, label, expected):
    raw["label"] = label
    assert expected in config_error(raw)


def test_label_classes_reach_the_graph_and_the_row_reader_field_for_field(raw):
    from pipeline import data as data_lib

    raw["label"] = {**SEX, "negative": ["FEMALE", 0], "other": "drop", "fold_case": True}
    parsed = config_lib.parse(raw, "cfg.yaml")
    rule = parsed.features.label
    assert (rule.negative, rule.other, rule.fold_case) == (("FEMALE", "0"), "drop", True)
    assert dataclasses.asdict(data_lib.rules_of(parsed).label) == dataclasses.asdict(rule)
    assert type(parsed.features).from_dict(parsed.features.to_dict()) == parsed.features


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"delimiter": ":"}, "data.delimiter must be one of 'auto', ',', ';'"),
        ({"encoding": "utf-9"}, "data: encoding 'utf-9' is not a codec Python knows; use auto, utf-8, cp1252"),
    ],
)
def test_delimiter_and_encoding_are_checked_when_loaded(raw, data, expected):
    raw["data"].update(data)
    assert expected in config_error(raw)


def test_delimiter_and_encoding_default_to_auto_and_take_a_codec_name(raw):
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert (parsed.data.delimiter, parsed.data.encoding) == ("auto", "auto")
    raw["data"].update(delimiter="\t", encoding="latin-1")
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert (parsed.data.delimiter, parsed.data.encoding) == ("\t", "latin-1")


def test_column_names_that_are_not_tensorflow_names_are_accepted(raw, tmp_path):
    raw["features"]["numeric"] += ["mean radius", "2023", "naïve"]
    raw["features"]["categorical"] += ["Sex (M/F)", "flc.grp"]
    raw["evaluation"]["slices"] = ["Sex (M/F)"]
    config = config_lib.parse(raw, str(tmp_path / "config.yaml"))
    assert {"mean radius", "2023", "naïve", "Sex (M/F)", "flc.grp"} <= set(config.features.raw_features)
