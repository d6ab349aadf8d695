"""safe_name maps any column name to one TensorFlow accepts; name_clashes finds columns that would share one."""

import re

import pytest

from models import features

ODD_NAMES = {
    "fare": "fare",
    "Sex": "Sex",
    "trip_start_hour": "trip_start_hour",
    "mean radius": "mean_radius",
    "flc.grp": "flc_grp",
    "2023": "c_2023",
    "Sex (M/F)": "Sex__M_F_",
    "naïve": "na_ve",
    "_private": "c__private",
    "é": "c__",
    "a/b-c": "a_b_c",
}


@pytest.mark.parametrize("column, expected", ODD_NAMES.items())
def test_safe_name_keeps_tensorflow_names_and_replaces_the_rest(column, expected):
    assert features.safe_name(column) == expected
    assert re.fullmatch(features.SAFE_NAME_PATTERN, features.safe_name(column))


def test_transformed_feature_names_build_on_the_safe_name():
    assert features.z_score_name("mean radius") == "mean_radius_z"
    assert features.bucket_name("2023") == "c_2023_bucket"
    assert features.vocabulary_id_name("Sex (M/F)") == "Sex__M_F__id"


def test_name_clashes_groups_distinct_columns_sharing_a_safe_name():
    columns = ["mean radius", "fare", "mean.radius", "mean_radius", "fare", "2023", "c_2023"]
    assert features.name_clashes(columns) == [("mean radius", "mean.radius", "mean_radius"), ("2023", "c_2023")]
    assert features.name_clashes(["fare", "fare", "trip_miles"]) == []


def test_names_differing_only_in_case_clash():
    # A SavedModel signature refuses two inputs named "Sex" and "sex" (TensorFlow lower-cases argument names).
    assert features.name_clashes(["Sex", "fare", "sex", "S.E.X"]) == [("Sex", "sex")]
