"""Configuration loading: the shipped file is valid, and each mistake is one line naming the key, the value and the fix.

The sweeps over every key are driven by the published JSON Schema, so a key added later is covered without a new test.
"""

import copy
import dataclasses
import json
import os

import jsonschema
import pytest
from conftest import config_error

from models.hparams import HParams
from pipeline import config as config_lib
from pipeline import config_checks

SCHEMA_FILE = os.path.join(os.path.dirname(config_lib.__file__), "..", "configs", "config.schema.json")
SCHEMA = config_lib.json_schema()


def _resolve(node: dict) -> dict:
    while "$ref" in node or "anyOf" in node:
        node = SCHEMA["$defs"][node["$ref"].split("/")[-1]] if "$ref" in node else node["anyOf"][0]
    return node


def _node(key: tuple) -> dict:
    node = SCHEMA
    for part in key:
        node = _resolve(_resolve(node)["properties"][part])
    return node


def _leaves(node: dict = SCHEMA, prefix: tuple = ()):
    """(dotted key path, schema) of every key that holds a value rather than a section."""
    for name, child in _resolve(node)["properties"].items():
        child = _resolve(child)
        if "properties" in child:
            yield from _leaves(child, prefix + (name,))
        else:
            yield prefix + (name,), child


def _sections(node: dict = SCHEMA, prefix: tuple = ()):
    yield prefix
    for name, child in _resolve(node)["properties"].items():
        if "properties" in _resolve(child):
            yield from _sections(child, prefix + (name,))


def _set(raw: dict, key: tuple, value) -> None:
    for part in key[:-1]:
        raw = raw.setdefault(part, {})
    raw[key[-1]] = value


def test_shipped_config_loads_with_paths_relative_to_the_file(taxi_config, config_path):
    configs_dir = os.path.dirname(config_path)
    assert taxi_config.data.path == os.path.normpath(os.path.join(configs_dir, "..", "data", "chicago_taxi"))
    assert taxi_config.data.schema == os.path.join(configs_dir, "chicago_taxi.schema.pbtxt")
    assert taxi_config.features.label.column == "tips"
    assert "tips" not in taxi_config.features.raw_features
    assert taxi_config.training.train_steps > 0
    assert taxi_config.training.hparams == HParams(dropout=0.2, hidden_units=(128, 64))
    assert taxi_config.data.missing_values == config_lib.MISSING_VALUES
    assert (taxi_config.data.max_missing_label_fraction, taxi_config.data.min_rows_per_class) == (0.05, 10)


def test_default_missing_values_are_pandas_na_strings_plus_none():
    from pandas._libs.parsers import STR_NA_VALUES

    # What the comment, README and --help say: pandas' default NA strings (1.5 lacks "None"; pandas 2 has it).
    assert set(config_lib.MISSING_VALUES) == STR_NA_VALUES | {"None"}
    assert len(config_lib.MISSING_VALUES) == len(set(config_lib.MISSING_VALUES))


def test_the_issues_three_mistakes_name_key_value_and_fix(raw):
    training = copy.deepcopy(raw)
    training["training"]["train_step"] = training["training"].pop("train_steps")
    assert "unknown key 'training.train_step'; did you mean 'train_steps'?" in config_error(training)
    numeric = copy.deepcopy(raw)
    numeric["features"]["numeric"] = ["fare", 7]
    assert 'features.numeric[1] must be text, got the number 7; quote it ("7")' in config_error(numeric)
    thresholds = copy.deepcopy(raw)
    thresholds["evaluation"]["thresholds"] = {"auc": 1.5}
    assert "evaluation.thresholds.auc must be in [0, 1], got 1.5" in config_error(thresholds)


LEAVES = list(_leaves())


@pytest.mark.parametrize("key, schema", LEAVES, ids=[".".join(key) for key, _ in LEAVES])
def test_every_key_refuses_a_value_of_the_wrong_type(raw, key, schema):
    _set(raw, key, [{"x": 1}])  # a list holding a mapping: the wrong shape for a value, a list and a mapping alike
    message = config_error(raw)
    assert ".".join(key) in message and "must be" in message, message


def _outside(schema: dict):
    """A value just outside the schema's range, or None when the value has no range."""
    schema = schema.get("items", schema) if schema.get("type") == "array" else schema
    step = 1 if schema.get("type") == "integer" else 0.5
    for bound, outside in (("minimum", -step), ("exclusiveMinimum", 0), ("maximum", step), ("exclusiveMaximum", 0)):
        if bound in schema:
            return schema[bound] + outside
    return None


RANGED = [(key, schema) for key, schema in _leaves() if _outside(_resolve(schema)) is not None]


@pytest.mark.parametrize("key, schema", RANGED, ids=[".".join(key) for key, _ in RANGED])
def test_every_ranged_key_names_its_range_and_the_value(raw, key, schema):
    value = _outside(_resolve(schema))
    _set(raw, key, [value] if schema.get("type") == "array" else value)
    message = config_error(raw)
    assert ".".join(key) in message and "must be " in message and f"got {value}" in message, message


@pytest.mark.parametrize("section", list(_sections()), ids=lambda key: ".".join(key) or "top")
def test_a_misspelt_key_in_any_section_gets_the_right_one_suggested(raw, section):
    allowed = list(_node(section)["properties"])
    misspelt = allowed[-1][:-1]  # the last key without its last letter
    _set(raw, section + (misspelt,), 1)
    message = config_error(raw)
    assert f"unknown key '{'.'.join(section + (misspelt,))}'; did you mean '{allowed[-1]}'?" in message, message
    assert f"allowed here: {', '.join(allowed)}" in message


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda raw: raw["features"].update(categorical=[True]), "got the boolean true; YAML reads unquoted yes"),
        (lambda raw: raw["data"].update(missing_values=["NA", None]), "data.missing_values[1] must be text"),
        (
            lambda raw: raw["drift"]["features"].update({2023: {}}),
            'a key of drift.features must be text, got the number 2023; quote it ("2023")',
        ),
        (
            lambda raw: raw["evaluation"]["thresholds"].update(acuracy=0.5),
            "unknown key 'evaluation.thresholds.acuracy'; did you mean 'accuracy'?",
        ),
        (
            lambda raw: raw["evaluation"]["comparison"].update(policy="superiority_"),
            "evaluation.comparison.policy must be one of 'superiority', 'non_inferiority', got 'superiority_'; did you",
        ),
        (
            lambda raw: raw["evaluation"]["comparison"].update(margin=-0.01),
            "evaluation.comparison.margin must be in [0, 1], got -0.01",
        ),
        (
            lambda raw: raw["evaluation"].update(min_improvement={"auc": 0.0}),
            "evaluation: 'min_improvement' is no longer read; write comparison: {policy: superiority, margin: <the "
            "AUC gain required>}",
        ),
        (
            lambda raw: raw["evaluation"].update(no_regression=["auc"]),
            "evaluation: 'no_regression' is no longer read; write comparison: {policy: non_inferiority, margin: <the "
            "AUC loss tolerated>}",
        ),
        (lambda raw: raw["evaluation"].update(thresholds={}), "evaluation.thresholds must not be empty"),
        (
            lambda raw: raw["drift"]["default"].update(action="blok"),
            "drift.default.action must be one of 'block', 'warn', got 'blok'; did you mean 'block'?",
        ),
        (lambda raw: raw["evaluation"]["thresholds"].update(auc=90), "must be in [0, 1], got 90; write 0.9 for 90%"),
        (
            lambda raw: raw["evaluation"].update(max_rows=500),
            "evaluation.max_rows: must be 0 or null (every eval row) or at least 1,000 (the most eval rows scored), "
            "got 500",
        ),
        (lambda raw: raw["evaluation"].update(max_rows=-1), "evaluation.max_rows: must be 0 or null (every eval row)"),
        (lambda raw: raw["evaluation"].update(max_rows=True), "evaluation.max_rows must be a whole number"),
        (
            lambda raw: raw["training"].update(learning_rate=float("inf")),
            "training.learning_rate must be a finite number",
        ),
        (
            lambda raw: raw["training"].update(batch_size="large"),
            "training.batch_size must be a whole number, got the text 'large'",
        ),
        (
            lambda raw: raw["training"].update(batch_size=True),
            "training.batch_size must be a whole number, got the boolean true",
        ),
        (
            lambda raw: raw["data"].update(split=[4, 1]),
            "data.split must be a mapping of keys to values, got a list [4, 1]",
        ),
        (lambda raw: raw["data"].update(schema=""), "data.schema must not be empty"),
        (
            lambda raw: raw["label"].update(greater_than="0.2"),
            "label.greater_than must be a number, got the text '0.2'",
        ),
        (lambda raw: raw["label"].update(times=None, greater_than=None, one_of=[]), "label: set exactly one of"),
        (lambda raw: raw["label"].update(one_of=["yes"]), "label: set exactly one of"),
        (lambda raw: raw["features"]["numeric"].append("tips"), "must not be a model input"),
        (
            lambda raw: raw["features"]["numeric"].append("company"),
            "features: columns ['company'] are listed more than once",
        ),
        (lambda raw: raw.update(features={"num_buckets": 10}), "features: list at least one column"),
        (
            lambda raw: raw.update(pipeline_name="Chicago_Taxi"),
            "pipeline_name 'Chicago_Taxi' is invalid; use lowercase letters",
        ),
        (
            lambda raw: raw["serving"].update(model_name="../taxi"),
            "serving.model_name '../taxi' is invalid; use a plain directory name",
        ),
        (
            lambda raw: raw["evaluation"].update(slices=["trip_start_hour", "weather"]),
            "evaluation.slices ['weather'] are not configured features",
        ),
        (
            lambda raw: raw["drift"]["features"].update(weather={"infinity_norm": 0.3}),
            "drift.features ['weather'] are not",
        ),
        (
            lambda raw: raw["skew"]["features"].update(tips={"jensen_shannon": 0.2}),
            "skew.features ['tips'] are not model features",
        ),
        (
            lambda raw: raw["features"]["numeric"].append("trip miles"),
            "columns 'trip_miles' and 'trip miles' both map to the TensorFlow name 'trip_miles' (characters other "
            "than letters, digits and '_' become '_', and case is ignored); rename one of them in the CSV and here",
        ),
        (
            lambda raw: (
                raw["features"]["categorical"].append("tips.amount") or raw["label"].update(column="tips_amount")
            ),
            "columns 'tips.amount' and 'tips_amount' both map to the TensorFlow name 'tips_amount'",
        ),
        (
            lambda raw: raw["features"]["categorical"].append("Company"),
            "columns 'company' and 'Company' both map to the TensorFlow name 'company'",
        ),
        (
            lambda raw: raw["label"].update(name="big tipper"),
            "label.name 'big tipper' is invalid; use a name of letters, digits and '_' starting with a letter",
        ),
        (
            lambda raw: raw["label"].update(name="fare_z"),
            "label.name 'fare_z' is also the name of a transformed feature (numeric features get <name>_z and "
            "<name>_bucket, bucketized <name>_bucket, categorical <name>_id); choose another name",
        ),
        (lambda raw: raw.pop("serving"), "missing required key 'serving'"),
        (lambda raw: raw["label"].pop("column"), "missing required key 'label.column'"),
        (lambda raw: raw.update(trainig=raw.pop("training")), "unknown key 'trainig'; did you mean 'training'?"),
    ],
    ids=[
        "yes-as-column",
        "null-token",
        "number-key",
        "metric-typo",
        "policy-typo",
        "negative-margin",
        "replaced-min-improvement",
        "replaced-no-regression",
        "no-thresholds",
        "action-typo",
        "percent",
        "max-rows-too-few",
        "max-rows-negative",
        "max-rows-boolean",
        "infinite",
        "text-for-int",
        "bool-for-int",
        "list-for-mapping",
        "empty-path",
        "text-for-number",
        "no-label-rule",
        "two-label-rules",
        "label-leak",
        "duplicate-column",
        "no-features",
        "pipeline-name",
        "model-name",
        "unknown-slice",
        "unknown-drift-feature",
        "skew-on-label",
        "name-clash",
        "name-clash-with-label-column",
        "name-clash-in-case-only",
        "label-name-not-a-tensorflow-name",
        "label-name-of-a-transformed-feature",
        "missing-section",
        "missing-key",
        "misspelt-section",
    ],
)
def test_mistakes_are_one_line_with_the_fix(raw, edit, expected):
    edit(raw)
    assert expected in config_error(raw)


def test_evaluation_max_rows_defaults_to_a_bound_and_null_or_0_means_every_row(raw):
    del raw["evaluation"]["max_rows"]
    assert config_lib.parse(raw, "cfg.yaml").evaluation.max_rows == config_lib.MAX_EVAL_ROWS
    for every_row in (None, 0):
        raw["evaluation"]["max_rows"] = every_row
        assert config_lib.parse(raw, "cfg.yaml").evaluation.max_rows == every_row


def test_values_may_be_whole_numbers_and_sections_left_empty(raw):
    raw["label"] = {"name": "in_loop", "column": "pickup_census_tract", "one_of": [1, "x"]}
    raw["data"]["missing_values"] = ["", -999]
    raw["drift"] = None  # `drift:` with its lines commented out
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert parsed.features.label.one_of == ("1", "x") and parsed.data.missing_values == ("", "-999")
    assert parsed.drift == config_lib.DriftConfig() and parsed.skew == config_lib.SkewConfig(**raw["skew"])


def test_drift_and_skew_sections_are_optional(raw):
    del raw["drift"], raw["skew"]
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert parsed.drift == config_lib.DriftConfig() and parsed.skew == config_lib.SkewConfig()


def test_a_partial_default_keeps_the_other_defaults_which_the_schema_shows(raw):
    raw["drift"] = {"default": {"action": "warn"}}
    raw["skew"] = {"default": {"jensen_shannon": 0.25}}
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert parsed.drift.default == config_checks.DriftDefault(
        jensen_shannon=0.3, infinity_norm=0.15, median_change=0.17, action="warn"
    )
    assert parsed.skew.default == config_checks.SkewDefault(jensen_shannon=0.25, infinity_norm=0.2, median_change=0.7)
    shown = {name: SCHEMA["$defs"][name]["properties"] for name in ("DriftDefault", "SkewDefault")}
    assert {key: node["default"] for key, node in shown["DriftDefault"].items()} == {
        "jensen_shannon": 0.3,
        "infinity_norm": 0.15,
        "median_change": 0.17,
        "action": "block",
    }
    assert {key: node["default"] for key, node in shown["SkewDefault"].items()} == {
        "jensen_shannon": 0.3,
        "infinity_norm": 0.2,
        "median_change": 0.7,
    }


def test_different_binary_csv_needs_only_a_config_edit(raw, tmp_path):
    other = copy.deepcopy(raw)
    other.update(pipeline_name="churn")
    other["data"] = {"path": "customers.csv"}
    other["label"] = {"name": "churned", "column": "status", "one_of": ["gone"]}
    other["features"] = {"numeric": ["age"], "categorical": ["plan"]}
    other["evaluation"] = {"slices": ["plan"], "thresholds": {"auc": 0.6}, "comparison": {"policy": "superiority"}}
    other["serving"] = {"model_name": "churn"}
    del other["drift"], other["skew"]
    parsed = config_lib.parse(other, str(tmp_path / "churn.yaml"))
    assert parsed.data.path == str(tmp_path / "customers.csv") and parsed.data.schema is None
    assert parsed.features.required_columns == ("age", "plan", "status")


def test_overrides_through_dataclasses_replace_are_validated_too(taxi_config):
    assert dataclasses.replace(taxi_config.training, train_steps=5).hparams == taxi_config.training.hparams
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        dataclasses.replace(taxi_config.training, train_steps=0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty"),
        ("# only comments\n", "the file is empty"),
        ("just text\n", "the file must be a mapping of keys to values, got the text 'just text'"),
        ("data: [unclosed\n", "not valid YAML: line 2, column 1"),
        (
            "data:\n\tpath: x\n",
            "line 2, column 1: found character '\\t' that cannot start any token; indent with spaces",
        ),
        ("data: {}\nlabel: {}\ndata: {}\n", "line 3, column 1: key 'data' is given twice in one mapping; keep one"),
    ],
    ids=["empty", "comments", "scalar", "unclosed", "tab", "duplicate-key"],
)
def test_unreadable_files_are_one_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load(str(path))
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value) and "\n" not in str(info.value)


def test_missing_file_folder_and_non_utf8(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="does not exist; pass --config"):
        config_lib.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(config_lib.ConfigError, match="is a folder, not a file"):
        config_lib.load(str(tmp_path))
    (tmp_path / "latin1.yaml").write_bytes(b"pipeline_name: caf\xe9\n")
    with pytest.raises(config_lib.ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 18\)"):
        config_lib.load(str(tmp_path / "latin1.yaml"))


def test_byte_order_mark_is_accepted(config_path, tmp_path):
    copy_path = tmp_path / "configs" / "bom.yaml"
    copy_path.parent.mkdir()
    with open(config_path, "rb") as f:
        copy_path.write_bytes(b"\xef\xbb\xbf" + f.read())
    assert config_lib.load(str(copy_path)).pipeline_name == "chicago-taxi"


def test_published_schema_file_is_up_to_date():
    with open(SCHEMA_FILE) as f:
        committed = json.load(f)
    assert committed == SCHEMA, (
        "configs/config.schema.json is stale: run `kfx config schema > configs/config.schema.json`"
    )


def test_schema_accepts_the_shipped_file_and_flags_the_issues_mistakes_as_editors_would(raw):
    validator = jsonschema.Draft7Validator(SCHEMA)
    assert list(validator.iter_errors(raw)) == []
    for edit in (
        lambda raw: raw["training"].update(train_step=1),
        lambda raw: raw["features"].update(numeric=["fare", 7]),
        lambda raw: raw["evaluation"].update(thresholds={"auc": 1.5}),
    ):
        bad = copy.deepcopy(raw)
        edit(bad)
        assert list(validator.iter_errors(bad)), edit
