"""`kfx config check --data`: what in a configuration the data contradicts, from a bounded sample, in seconds.

Each finding is one line naming the key, the value and the fix. The rules are those the run applies to all rows
(pipeline/data.py, components/window_example_gen/rows.py) and what the evaluation needs: columns the config names are
in the header, the label's values are all classified, no feature is empty, numeric columns hold numbers, integer
categoricals hold no stray text, a curated schema describes these columns, thresholds are neither met by a constant
model nor above what a quick gradient-boosted baseline reaches, and every slice has a value with enough eval rows.
"""

import dataclasses

import pandas as pd

from components.window_example_gen import checks
from components.window_example_gen import rows as rows_lib
from pipeline import data as data_lib
from pipeline import schema_columns
from pipeline.config import PipelineConfig
from profiling import baseline as baseline_lib
from profiling import proposal as proposal_lib
from profiling import sample as sample_lib

_SHOWN = 5  # values named per finding


@dataclasses.dataclass(frozen=True)
class DataReport:
    """The findings for a configuration and its data, and the label's value counts in the sample."""

    rows: int
    findings: tuple[str, ...]
    label_counts: str


def check(config: PipelineConfig, max_rows: int = sample_lib.DEFAULT_ROWS) -> DataReport:
    """Reads a sample of `config.data.path` and lists what the configuration and the data disagree on."""
    data = config.data
    sample = sample_lib.read(data.path, max_rows, tuple(data.missing_values), data.delimiter, data.encoding)
    frame, features = sample.frame, config.features
    missing = [column for column in features.required_columns if column not in frame.columns]
    if missing:
        names = ", ".join(map(repr, missing))
        return DataReport(
            len(frame),
            (
                f"features/label: column(s) {names} are not in the data's header ({', '.join(frame.columns)}); fix the "
                "names in the config (they are exact, case included) or in the CSV",
            ),  # fmt: skip
            "",
        )
    rules = data_lib.rules_of(config)
    header, records = _records(config, frame)
    labels = rules.labels(header, records)
    tally = checks.WindowTally()
    checks.count(rules, header, records, labels, tally)
    others = checks.other_values(rules, tally.label_values)
    found = [
        *_schema(config, header),
        checks.other_label_problem(rules, others, tally.classes[rows_lib.OTHER]),
        *_unseen_label_values(config, frame),
        checks.empty_feature_problem(rules, tally.present, tally.rows),
        *_text_in_numbers(rules, frame),
        checks.integer_text_problem(rules, tally.integers, tally.text_cells, tally.texts),
        *_thresholds(config, frame, labels),
        *_slices(config, sample),
    ]
    return DataReport(len(frame), tuple(f for f in found if f), checks.describe_label(rules, tally))


def _records(config: PipelineConfig, frame: pd.DataFrame) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The sample as the row rules read a file: the header, and (line, cells) records with missing cells as a
    missing-value token."""
    token = config.data.missing_values[0] if config.data.missing_values else ""
    cells = frame.fillna(token).itertuples(index=False, name=None)
    return list(frame.columns), [(line, list(row)) for line, row in enumerate(cells, start=2)]


def _listing(counts: pd.Series) -> str:
    shown = [f"{value!r} {n:,}" for value, n in counts.head(_SHOWN).items()]
    return ", ".join(shown) + (f", ... {len(counts) - _SHOWN} more" if len(counts) > _SHOWN else "")


def _schema(config: PipelineConfig, header: list[str]) -> list[str]:
    problem = schema_columns.problem(config.data.schema, header) if config.data.schema else None
    return [problem] if problem else []


def _unseen_label_values(config: PipelineConfig, frame: pd.DataFrame) -> list[str]:
    """Values of label.one_of or label.negative that the label column never holds (a typo, another case)."""
    label, found = config.features.label, []
    values = frame[label.column]
    fold = rows_lib.Label.fold if label.fold_case else str
    seen = {fold(value) for value in values.dropna().unique()}
    for key, listed in (("label.one_of", label.one_of), ("label.negative", label.negative)):
        absent = [value for value in listed if fold(value) not in seen]
        if absent:
            found.append(
                f"{key}: value(s) {', '.join(map(repr, absent))} never occur in '{label.column}' (its values: "
                f"{_listing(values.value_counts())}); write the values exactly as the data has them, or set "
                "label.fold_case: true"
            )
    return found


def _text_in_numbers(rules: rows_lib.Rules, frame: pd.DataFrame) -> list[str]:
    found = []
    for column in rules.numeric:
        values = frame[column].dropna()
        text = values[pd.to_numeric(values, errors="coerce").isna()]
        if len(text):
            found.append(
                f"features: numeric column '{column}' has text: {_listing(text.value_counts())}; clean those cells, "
                "add them to data.missing_values if they mean missing, or list the column as categorical"
            )
    return found


def _thresholds(config: PipelineConfig, frame: pd.DataFrame, labels: list) -> list[str]:
    classified = pd.Series([float(v) if isinstance(v, bool) else float("nan") for v in labels], name="label")
    found, thresholds = [], config.evaluation.thresholds
    if classified.notna().sum() == 0:
        return []
    majority = max(classified.mean(), 1 - classified.mean())
    if "accuracy" in thresholds and thresholds["accuracy"] <= majority:
        found.append(
            f"evaluation.thresholds.accuracy: {thresholds['accuracy']} is met by a model that always answers the "
            f"majority class ({majority:.1%} of the sampled rows); raise it above {majority:.2f} or remove it"
        )
    if "auc" in thresholds or "accuracy" in thresholds:
        features = config.features
        quick = baseline_lib.quick_baseline(
            frame, classified, features.numeric + features.bucketized, features.categorical
        )
        if quick and thresholds.get("accuracy", 0.0) > quick.accuracy_high:
            found.append(
                f"evaluation.thresholds.accuracy: {thresholds['accuracy']} is above what a gradient-boosted baseline "
                f"reaches on these features (accuracy {quick.accuracy:.3f}, at most {quick.accuracy_high:.3f} at 95% "
                f"on {quick.eval_rows:,} held-out rows): no model would be pushed; lower it or remove it (auc judges "
                "ranking whatever the classes' balance)"
            )
        if quick and "auc" in thresholds and thresholds["auc"] > quick.high:
            found.append(
                f"evaluation.thresholds.auc: {thresholds['auc']} is above what a gradient-boosted baseline reaches on "
                f"these features ({quick.describe()}); lower it to {proposal_lib.auc_threshold(quick)} (the baseline "
                f"- {proposal_lib.AUC_ALLOWANCE}) or below"
            )
    return found


def _slices(config: PipelineConfig, sample: sample_lib.Sample) -> list[str]:
    found, least = [], config.evaluation.comparison.min_slice_size
    for column in config.evaluation.slices:
        counts = sample.frame[column].value_counts().sort_index().sort_values(ascending=False, kind="stable")
        largest = proposal_lib.expected_eval_rows(sample, int(counts.iloc[0])) if len(counts) else 0
        if largest < least:
            top = f"'{counts.index[0]}' with about {largest:.0f}" if len(counts) else "no value"
            found.append(
                f"evaluation.slices: '{column}' has no value with the {least} eval rows "
                f"evaluation.comparison.min_slice_size needs (largest: {top}); remove it, or lower min_slice_size"
            )
    return found
