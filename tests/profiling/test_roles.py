"""profiling/roles.py: each column's role and the reason, on a generated CSV of the kinds users export."""

import odd_csv
import pandas as pd
import pytest

from profiling import roles as roles_lib
from profiling import sample as sample_lib


@pytest.fixture(scope="module")
def odd_profile(tmp_path_factory) -> roles_lib.Profile:
    path = odd_csv.write(str(tmp_path_factory.mktemp("odd") / "odd.csv"), 400)
    return roles_lib.profile(sample_lib.read(path).frame, ("outcome",))


def test_every_column_of_the_odd_csv_gets_its_role(odd_profile):
    assert {role.column: role.role for role in odd_profile.roles} == odd_csv.EXPECTED_ROLES


def test_each_role_says_why(odd_profile):
    reasons = {role.column: role.reason for role in odd_profile.roles}
    assert reasons["patient_id"] == "identifier: its name says id and 400 of its 400 values are distinct"
    assert reasons["lab ref"] == "identifier: 400 distinct values in 400 rows"
    assert reasons["site"] == "constant: 'north' in each of the 400 rows with a value"
    assert reasons["unused"] == "empty: no values in the sample"
    assert reasons["notes"].startswith("free text: ") and "words on average" in reasons["notes"]
    assert reasons["city"].startswith("high-cardinality text: ")
    assert reasons["grade"] == "whole numbers with 4 values: codes, one vocabulary"
    assert reasons["pickup lat"] == "coordinate (name says latitude/longitude): quantile buckets"
    assert reasons["Sex (M/F)"] == "text with 2 values, listed by the inferred schema: one vocabulary"
    assert reasons["outcome"] == "the label's column; never a model input"


def test_punctuation_among_integers_is_taken_as_missing(odd_profile):
    assert odd_profile.missing_tokens == ("?",)
    assert odd_profile.role_of("ca").distinct == 4  # 0-3: the "?" cells no longer count as a value


def test_text_among_numbers_that_is_not_punctuation_keeps_the_column_text():
    values = pd.Series(["1", "2", "unknown"] + ["3"] * 30)
    assert roles_lib.punctuation_tokens(values) == ()
    assert roles_lib.punctuation_tokens(pd.Series(["1", "?", "-"] + ["3"] * 30)) == ("-", "?")


def test_rules_that_depend_on_the_name_or_the_order():
    count = 50
    frame = pd.DataFrame(
        {
            "row": [str(i) for i in range(count)],  # only goes up: an identifier even without "id" in the name
            "shuffled": [str((i * 7) % count) for i in range(count)],  # distinct whole numbers, not in order: numeric
            "pickupLongitude": [f"{-87.6 + i / 1000:.4f}" for i in range(count)],  # camelCase coordinate
            "signup date": [str(1_600_000_000 + i) for i in range(count)],
            "label": ["a", "b"] * (count // 2),
        }
    )
    found = roles_lib.profile(frame, ("label",))
    assert [role.role for role in found.roles] == ["left out", "numeric", "bucketized", "left out", "label"]
    assert found.role_of("row").reason == "identifier: every value distinct and they only go up"
    assert found.role_of("signup date").reason.startswith("a date or time stamp")


def test_name_words_split_punctuation_spaces_and_camel_case():
    assert roles_lib.name_words("pickupLat (deg)") == {"pickup", "lat", "deg"}
    assert roles_lib.name_words("Sex (M/F)") == {"sex", "m", "f"}


def test_of_two_columns_with_one_tensorflow_name_the_later_is_left_out():
    frame = pd.DataFrame({"a b": ["1.5", "2.5", "3.5"] * 10, "a_b": ["x", "y", "z"] * 10, "y": ["0", "1", "1"] * 10})
    found = roles_lib.profile(frame, ("y",))
    assert found.role_of("a b").role == "numeric"
    assert found.role_of("a_b").role == "left out"
    assert found.role_of("a_b").reason == "its TensorFlow name 'a_b' is also 'a b''s; rename one in the CSV to use both"


def test_a_few_long_values_are_categories_not_free_text():
    species = ["Adelie Penguin (Pygoscelis adeliae)", "Gentoo penguin (Pygoscelis papua)", "Chinstrap penguin (x y)"]
    frame = pd.DataFrame({"Species": species * 20, "label": ["a", "b"] * 30})
    assert roles_lib.profile(frame, ("label",)).role_of("Species").role == "categorical"


def test_whole_numbers_named_id_with_repeats_are_an_identifier():
    frame = pd.DataFrame({"subject_id": [str(i // 2) for i in range(100)], "label": ["a", "b"] * 50})
    found = roles_lib.profile(frame, ("label",)).role_of("subject_id")
    assert (found.role, found.reason) == (
        "left out",
        "identifier: its name says id and 50 of its 100 values are distinct",
    )


def test_text_with_many_values_and_few_rows_each_is_thin():
    names = [f"name{i % 300}" for i in range(3000)]  # 300 values, 10 rows each
    shops = [f"shop{i % 40}" for i in range(3000)]  # 40 values, 75 rows each
    frame = pd.DataFrame({"first name": names, "shop": shops, "label": ["a", "b"] * 1500})
    found = roles_lib.profile(frame, ("label",))
    assert found.role_of("first name").reason == (
        "thin text: 300 values with 10 rows each on average (fewer than 50); an embedding this thin memorises its rows"
    )
    assert found.role_of("shop").role == "categorical"


def test_whole_numbers_named_like_a_code_are_categorical_unless_thin():
    frame = pd.DataFrame(
        {
            "pickup_community_area": [str(1 + i % 70) for i in range(7000)],  # 70 areas, 100 rows each
            "census tract": [str(17031000000 + i % 400) for i in range(7000)],  # 400 tracts, 17 rows each
            "age": [str(18 + i % 70) for i in range(7000)],  # a quantity: stays numeric
            "label": ["a", "b"] * 3500,
        }
    )
    found = roles_lib.profile(frame, ("label",))
    assert found.role_of("pickup_community_area").reason == (
        "whole numbers named like a code ('area'), 70 values: one vocabulary"
    )
    assert found.role_of("census tract").reason.startswith("thin codes: 400 codes with 18 rows each on average")
    assert found.role_of("age").role == "numeric"
