"""The role of each column in a sample: numeric, bucketized, categorical, the label, or left out with the reason.

Types and counts come from TFDV: statistics of the sample (`tfdv.generate_statistics_from_dataframe`) and the schema
TFDV infers from them (`tfdv.infer_schema`: INT, FLOAT or BYTES, and a string domain for low-cardinality text). The
rules on top are few, ordered and stated in each role's reason, so the same sample always gets the same roles:

1. the label's columns are never features;
2. no value at all: left out (empty); one value: left out (constant); a name that says timestamp, date, datetime or
   epoch: left out (later data only has values the model never saw, and every new span would read as drift);
3. numbers: bucketized when the name says latitude or longitude; categorical when whole numbers with at most
   `MAX_INTEGER_CODES` values (codes such as hour or weekday); left out as an identifier when whole numbers whose
   name says id with at least half of them distinct, or all distinct and only going up (a row number); categorical
   when whole numbers named like a code (area, zip, tract, type, ...: Chicago's 77 community areas), unless thin;
   else numeric;
4. text: left out as free text when long, many-worded and with more than `MAX_INTEGER_CODES` values (a few long
   values are categories: "Adelie Penguin (Pygoscelis adeliae)"); as an identifier when nearly every value is distinct;
   as high-cardinality text when it has more values than a vocabulary keeps or than half its rows; as thin text when it
   has more than `MAX_INTEGER_CODES` values and fewer than `MIN_ROWS_PER_VALUE` rows per value on average (a first-name
   column cost the DNN 0.11 AUC on the covid_testing data); else categorical.

A column of numbers with a few text cells that are only punctuation ("?", "-", "."; UCI's usual marks for missing)
is read with those cells as missing: `Profile.missing_tokens` says which, for `data.missing_values`. Of two features
with one safe TensorFlow name ("a b", "a_b"), the later is left out: the configuration would refuse both.
"""

import dataclasses
import re

import pandas as pd

from models import features as model_features

MAX_INTEGER_CODES = 32  # whole-number columns with at most this many values are codes (hour, weekday, class)
MAX_VOCABULARY = 1000  # features.max_vocabulary_size's default: more values than this is high-cardinality text
NEAR_UNIQUE = 0.9  # share of distinct values among the non-missing ones that marks an identifier
MIN_ROWS_FOR_UNIQUE = 20  # fewer non-missing values than this never make an identifier
FREE_TEXT_CHARACTERS = 25  # free text: values this long on average...
FREE_TEXT_WORDS = 4  # ...with this many words on average
MIN_ROWS_PER_VALUE = 50  # text of more than MAX_INTEGER_CODES values needs this many rows per value on average
MOSTLY_NUMBERS = 0.9  # a column whose values are at least 90% numbers, the rest punctuation: the rest means missing

NUMERIC, BUCKETIZED, CATEGORICAL, LABEL, LEFT_OUT = "numeric", "bucketized", "categorical", "label", "left out"
_COORDINATE_WORDS = {"lat", "latitude", "lon", "lng", "long", "longitude"}
_ID_WORDS = {"id", "uuid", "guid", "key", "index", "idx"}
# Whole numbers named so are codes, not quantities: their order and median mean nothing.
_CODE_WORDS = {"area", "code", "zip", "zipcode", "postcode", "tract", "district", "region", "type", "class", "category",
               "group", "status", "level", "county", "state", "country", "station", "zone"}  # fmt: skip
_TIME_WORDS = {"timestamp", "date", "datetime", "epoch"}
_PUNCTUATION = r"[^\w\s]+"
_INTEGER = r"[+-]?\d+"


@dataclasses.dataclass(frozen=True)
class Role:
    """What a column is used as, and why."""

    column: str
    role: str
    reason: str
    distinct: int = 0  # distinct non-missing values in the sample
    present: int = 0  # non-missing values in the sample
    numeric: bool = False  # every non-missing value is a number


@dataclasses.dataclass(frozen=True)
class Profile:
    """Every column's role, and the cells taken as missing beyond the sample's missing-value tokens."""

    roles: tuple[Role, ...]
    missing_tokens: tuple[str, ...] = ()

    def columns(self, role: str) -> tuple[str, ...]:
        return tuple(r.column for r in self.roles if r.role == role)

    def role_of(self, column: str) -> Role:
        return next(r for r in self.roles if r.column == column)


def name_words(column: str) -> set[str]:
    """The words of a column name, split at punctuation, spaces and camelCase: "pickupLat (deg)" -> pickup, lat, deg."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return {word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word}


def punctuation_tokens(values: pd.Series) -> tuple[str, ...]:
    """The cells of a mostly-numeric column that are only punctuation ("?", "-"), when the rest are numbers."""
    present = values.dropna()
    if present.empty:
        return ()
    numbers = pd.to_numeric(present, errors="coerce").notna()
    text = present[~numbers]
    if text.empty or numbers.mean() < MOSTLY_NUMBERS or not text.str.fullmatch(_PUNCTUATION).all():
        return ()
    return tuple(sorted(set(text)))


def profile(frame: pd.DataFrame, label_columns: tuple[str, ...]) -> Profile:
    """Roles of every column of a sample (text cells, NaN where missing), in the order of its header."""
    tokens = sorted({token for column in frame.columns for token in punctuation_tokens(frame[column])})
    if tokens:
        frame = frame.mask(frame.isin(tokens))
    typed = _typed(frame)
    features = _tfdv_features(typed)
    roles = []
    for column in frame.columns:
        values = frame[column].dropna()
        role = Role(column, "", "", int(values.nunique()), len(values), column in typed.select_dtypes("number"))
        roles.append(dataclasses.replace(role, **_decide(role, values, features[column], label_columns)))
    return Profile(_without_clashes(roles), tuple(tokens))


def _without_clashes(roles: list[Role]) -> tuple[Role, ...]:
    """The roles with a feature left out when an earlier feature has its safe TensorFlow name (the config would be
    refused otherwise)."""
    taken: dict[str, str] = {}
    kept = []
    for role in roles:
        safe = model_features.safe_name(role.column)
        if role.role in (NUMERIC, BUCKETIZED, CATEGORICAL) and safe in taken:
            why = f"its TensorFlow name '{safe}' is also {taken[safe]!r}'s; rename one in the CSV to use both"
            role = dataclasses.replace(role, role=LEFT_OUT, reason=why)
        elif role.role in (NUMERIC, BUCKETIZED, CATEGORICAL):
            taken[safe] = role.column
        kept.append(role)
    return tuple(kept)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The sample with columns whose every value is a number as float64 (NaN missing), text as Python strings."""
    typed = {}
    for column in frame.columns:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum() and values.notna().any():
            typed[column] = numbers.astype("float64")
        else:
            typed[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(typed, columns=frame.columns)


def _tfdv_features(typed: pd.DataFrame) -> dict[str, dict]:
    """Per column, what TFDV's statistics and inferred schema say: type, missing count, distinct strings, average
    string length, and whether the schema gave it a string domain."""
    import tensorflow_data_validation as tfdv  # noqa: PLC0415 (TFDV imports TensorFlow: only when profiling)
    from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: PLC0415

    statistics = tfdv.generate_statistics_from_dataframe(typed)
    schema = tfdv.infer_schema(statistics)
    found = {}
    for feature in statistics.datasets[0].features:
        stats = feature.string_stats if feature.HasField("string_stats") else None
        common = stats.common_stats if stats else feature.num_stats.common_stats
        found[feature.path.step[0]] = {
            "missing": int(common.num_missing),
            "unique": int(stats.unique) if stats else None,
            "average_length": float(stats.avg_length) if stats else 0.0,
        }
    for feature in schema.feature:
        found[feature.name]["type"] = schema_pb2.FeatureType.Name(feature.type)
        found[feature.name]["domain"] = feature.WhichOneof("domain_info") == "domain"
    for column in typed.columns:  # a column with no value at all is absent from TFDV's statistics
        found.setdefault(column, {"missing": len(typed), "unique": 0, "average_length": 0.0, "type": "NONE"})
    return found


def _decide(role: Role, values: pd.Series, tfdv_feature: dict, label_columns: tuple[str, ...]) -> dict[str, str]:
    """The role and reason of one column (rules 1-4 of the module docstring)."""
    if role.column in label_columns:
        return {"role": LABEL, "reason": "the label's column; never a model input"}
    if role.present == 0:
        return {"role": LEFT_OUT, "reason": "empty: no values in the sample"}
    if role.distinct == 1:
        return {
            "role": LEFT_OUT,
            "reason": f"constant: {values.iloc[0]!r} in each of the {role.present:,} rows with a value",
        }
    if name_words(role.column) & _TIME_WORDS:
        return {"role": LEFT_OUT, "reason": "a date or time stamp (its name says so): new data brings new values"}
    if role.numeric:
        return _numeric(role, values)
    return _text(role, values, tfdv_feature)


def _numeric(role: Role, values: pd.Series) -> dict[str, str]:
    words = name_words(role.column)
    whole = bool(values.str.fullmatch(_INTEGER).all())
    if words & _COORDINATE_WORDS:
        return {"role": BUCKETIZED, "reason": "coordinate (name says latitude/longitude): quantile buckets"}
    if whole and role.distinct <= MAX_INTEGER_CODES:
        return {"role": CATEGORICAL, "reason": f"whole numbers with {role.distinct} values: codes, one vocabulary"}
    if whole and role.present >= MIN_ROWS_FOR_UNIQUE and words & _ID_WORDS and role.distinct >= role.present / 2:
        why = f"its name says id and {role.distinct:,} of its {role.present:,} values are distinct"
        return {"role": LEFT_OUT, "reason": f"identifier: {why}"}
    if whole and role.distinct == role.present >= MIN_ROWS_FOR_UNIQUE and pd.to_numeric(values).is_monotonic_increasing:
        return {"role": LEFT_OUT, "reason": "identifier: every value distinct and they only go up"}
    code_words = sorted(words & _CODE_WORDS)
    if whole and code_words and role.distinct <= MAX_VOCABULARY:
        rows = role.present / role.distinct
        if rows < MIN_ROWS_PER_VALUE:
            why = f"{role.distinct} codes with {rows:.0f} rows each on average (fewer than {MIN_ROWS_PER_VALUE})"
            return {"role": LEFT_OUT, "reason": f"thin codes: {why}; an embedding this thin memorises its rows"}
        why = f"whole numbers named like a code ('{code_words[0]}'), {role.distinct} values: one vocabulary"
        return {"role": CATEGORICAL, "reason": why}
    return {"role": NUMERIC, "reason": f"numbers ({role.distinct} values): z-score and quantile buckets"}


def _text(role: Role, values: pd.Series, tfdv_feature: dict) -> dict[str, str]:
    length = tfdv_feature["average_length"]
    words = float(values.str.split().str.len().mean())
    distinct = tfdv_feature["unique"]
    if length >= FREE_TEXT_CHARACTERS and words >= FREE_TEXT_WORDS and distinct > MAX_INTEGER_CODES:
        return {"role": LEFT_OUT, "reason": f"free text: {length:.0f} characters, {words:.1f} words on average"}
    if role.present >= MIN_ROWS_FOR_UNIQUE and distinct >= NEAR_UNIQUE * role.present:
        return {"role": LEFT_OUT, "reason": f"identifier: {distinct} distinct values in {role.present} rows"}
    if distinct > MAX_VOCABULARY or distinct > role.present / 2:
        return {
            "role": LEFT_OUT,
            "reason": f"high-cardinality text: {distinct} distinct values in {role.present} rows",
        }
    if distinct > MAX_INTEGER_CODES and role.present / distinct < MIN_ROWS_PER_VALUE:
        rows = role.present / distinct
        why = f"{distinct} values with {rows:.0f} rows each on average (fewer than {MIN_ROWS_PER_VALUE})"
        return {"role": LEFT_OUT, "reason": f"thin text: {why}; an embedding this thin memorises its rows"}
    domain = ", listed by the inferred schema" if tfdv_feature.get("domain") else ""
    return {"role": CATEGORICAL, "reason": f"text with {distinct} values{domain}: one vocabulary"}
