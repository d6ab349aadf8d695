"""profiling/label.py: the label rule from --label and --negative, and the counts behind it."""

import pandas as pd
import pytest

from pipeline.data import DataError
from profiling import label as label_lib


def _frame(values):
    return pd.DataFrame({"y": pd.Series(values, dtype=object), "x": ["1"] * len(values)})


def test_a_two_valued_column_takes_the_value_that_reads_as_yes():
    choice = label_lib.choose(_frame(["No", "Yes", "No", None]), "y")
    assert (choice.one_of, choice.negative, choice.other) == (("Yes",), ("No",), "stop")
    assert choice.reason == "positive 'Yes' (1), negative 'No' (2): 'Yes' reads as yes"
    assert choice.missing == 1 and choice.name == "y_label"
    assert choice.labels(pd.Series(["Yes", "No", None])).tolist()[:2] == [1.0, 0.0]


def test_without_a_yes_the_rarer_value_is_positive():
    choice = label_lib.choose(_frame(["MALE", "FEMALE", "FEMALE"]), "y")
    assert choice.one_of == ("MALE",) and choice.reason.endswith("'MALE' is the rarer value")


def test_more_than_two_values_need_the_positive_ones_named():
    with pytest.raises(DataError) as error:
        label_lib.choose(_frame(["A", "B", "B", "C"]), "y")
    assert str(error.value) == (
        "label column 'y' has 3 values ('B' 2, 'A' 1, 'C' 1); name the positive ones: --label 'y=V1,V2' "
        "(and --negative V3 to leave the rest out)"
    )


def test_named_values_must_occur_and_values_in_neither_list_are_dropped():
    frame = _frame(["A", "B", "B", "C", "U"])
    with pytest.raises(DataError, match=r"label value\(s\) \['a'\] do not occur in 'y' in the sample"):
        label_lib.choose(frame, "y", positive=("a",))
    choice = label_lib.choose(frame, "y", positive=("A",), negative=("B",))
    assert choice.other == "drop" and "rows of other values are left out ('C' 1, 'U' 1)" in choice.reason
    assert choice.labels(frame["y"]).tolist()[:3] == [1.0, 0.0, 0.0]
    assert choice.labels(frame["y"]).isna().tolist() == [False, False, False, True, True]
    everything = label_lib.choose(frame, "y", positive=("A", "C"))  # no --negative: every other value seen
    assert everything.negative == ("B", "U") and everything.other == "stop"


def test_a_numeric_rule_needs_numbers():
    choice = label_lib.choose(_frame(["0", "2.5", "0"]), "y", greater_than=0.0)
    assert choice.reason == "y > 0: 1 positive, 2 negative in the sample"
    with pytest.raises(DataError, match=r"'y' holds text \('high' 1\); use COLUMN=V1,V2"):
        label_lib.choose(_frame(["0", "high"]), "y", greater_than=0.0)


def test_an_unknown_column_names_the_header():
    with pytest.raises(DataError, match=r"^--label 'z': no such column; the header is: y, x$"):
        label_lib.choose(_frame(["a", "b"]), "z")


def test_case_variants_turn_fold_case_on_and_punctuation_is_no_class():
    frame = pd.DataFrame({"Sex": ["MALE", "MALE", "FEMALE", "FEMALE", "Male", "male ", ".", "female"]})
    choice = label_lib.choose(frame, "Sex", ("MALE",))
    assert (choice.one_of, choice.negative, choice.other, choice.fold_case) == (("MALE",), ("FEMALE",), "drop", True)
    assert choice.labels(frame["Sex"]).tolist()[:6] == [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    assert choice.reason == (
        "positive 'MALE' (4), negative 'FEMALE' (3): as given; 'Male', 'male ' differ from a named value only in case "
        "or spaces: fold_case; rows of other values are left out ('.' 1)"
    )


def test_several_implicit_negatives_are_said():
    frame = pd.DataFrame({"vote": ["Y"] * 5 + ["N"] * 4 + ["U"] * 3 + ["A"] * 2})
    choice = label_lib.choose(frame, "vote", ("Y",))
    assert choice.negative == ("N", "U", "A") and choice.other == "stop"
    assert "every other value is negative (--negative V names the negatives and leaves the rest out)" in choice.reason
    dropped = label_lib.choose(frame, "vote", ("Y",), ("N",))
    assert (dropped.negative, dropped.other) == (("N",), "drop")
    assert dropped.labels(frame["vote"]).isna().sum() == 5
