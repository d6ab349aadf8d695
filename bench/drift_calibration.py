"""Calibrates the drift and skew thresholds on the shipped spans; README ("Drift", "Training/serving skew") quotes
the tables this prints (and writes to workspace/bench/drift_calibration.md/.json).

Drift: every measure of the drift check, computed by the gate's own code (TFDV's comparators as
DistributionValidator configures them, policy.py's medians and label interval) on TFDV statistics of the shipped
spans, computed with the curated schema as StatisticsGen computes them:
- natural: span N against span N-1, N = 2..4 (2014 against 2013, ...): every measure must pass;
- shifted: the reference span itself with one change (so the change alone is measured): each numeric feature x1.3,
  or + 30% of its mean; each categorical feature with one value gaining 20 points of share (taken from the other
  values at random); the label's positive rate +-0.1 at the newest span's row count. Each must be blocked;
- on top of the natural change: the same changes applied to span N instead, against span N-1 (reported, not
  required: a natural change the other way can hide part of a shift).
Skew: `kfx monitor`'s comparison (monitoring/skew_compare.py) of samples of 400 served rows with the statistics of
the span they are drawn from: traffic drawn from the training data (20 random samples per span) must not alarm;
half of the rows with one numeric input x10 must.

Usage: python -m bench.drift_calibration   (about 5 minutes on two cores)
"""

import dataclasses
import os
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.components.distribution_validator import executor as dv_executor

from bench import results
from components.drift_gate import policy
from monitoring import skew_compare
from pipeline import config as config_lib
from pipeline import drift as drift_lib

CONFIG = os.path.join(results.REPO, "configs", "chicago_taxi.yaml")
PAIRS = ((1, 2), (2, 3), (3, 4))
SEED = 20261205
SKEW_ROWS, SKEW_SAMPLES = 400, 20
Stats = statistics_pb2.DatasetFeatureStatisticsList


@dataclasses.dataclass
class Finding:
    measure: str
    feature: str
    case: str  # one comparison: its findings together decide whether it passes
    value: float
    threshold: float
    scenario: str = "natural"  # the kind of change the case applies

    @property
    def margin(self) -> float:
        return self.value / self.threshold


def _frame(config: config_lib.PipelineConfig, schema: schema_pb2.Schema, span: int) -> pd.DataFrame:
    """A span's rows as WindowExampleGen types them: missing tokens missing, INT columns integers."""
    path = os.path.join(config.data.path, f"span-{span}", "data.csv")
    frame = pd.read_csv(path, keep_default_na=False, na_values=list(config.data.missing_values))
    frame = frame[list(config.features.required_columns)]
    for feature in schema.feature:
        if feature.name in frame and feature.type == schema_pb2.INT:
            frame[feature.name] = frame[feature.name].astype("Int64")
    return frame


def _statistics(frame: pd.DataFrame, schema: schema_pb2.Schema) -> Stats:
    return tfdv.generate_statistics_from_dataframe(frame, stats_options=tfdv.StatsOptions(schema=schema))


def _counts(config: config_lib.PipelineConfig, frame: pd.DataFrame) -> policy.LabelCounts:
    label = config.features.label
    scale = frame[label.times] if label.times else 1.0
    positive = frame[label.column] > label.greater_than * scale
    return policy.LabelCounts(int(len(frame)), int(positive.sum()))


def _drift(config, settings, reference: Stats, newest: Stats, counts=None) -> list[policy.Measurement]:
    """The gate's measurements of `newest` against `reference`, as DistributionValidator and DriftGate make them."""
    validator = drift_lib.validator_config(config)
    schema = dv_executor._make_schema_from_config(validator, reference)
    anomalies = dv_executor._get_comparison_only_anomalies(
        tfdv.validate_statistics(newest, schema, previous_statistics=reference)
    )
    found = policy.measurements(anomalies, settings) + policy.median_measurements(newest, reference, settings)
    if counts:
        found.append(policy.label_measurement(counts[1], counts[0], settings))
    return [m for m in found if m.value is not None]


def _numeric_changes(mean: float) -> dict[str, Callable[[pd.Series], pd.Series]]:
    return {"x1.3": lambda values: values * 1.3, "+30% of mean": lambda values: values + 0.3 * mean}


def _gain(frame: pd.DataFrame, feature: str, value, rng: np.random.Generator) -> pd.DataFrame:
    """`value` gains 20 points of share among the feature's present values, taken from the others at random."""
    frame = frame.copy()
    present = frame[feature].notna()
    others = frame.index[present & (frame[feature] != value)]
    frame.loc[rng.choice(others, int(round(0.2 * present.sum())), replace=False), feature] = value
    return frame


def drift_findings(config, schema) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """(natural, shifted, shifted on top of the natural change)."""
    settings = drift_lib.gate_settings(config)
    frames = {span: _frame(config, schema, span) for span in range(1, 5)}
    stats = {span: _statistics(frame, schema) for span, frame in frames.items()}
    numeric = list(settings["median_change"])
    categorical = sorted(drift_lib.categorical_features(config) & set(config.features.required_columns))
    rng = np.random.default_rng(SEED)
    natural, shifted, on_top = [], [], []

    def add(into, scenario, case, found, feature=None):
        for m in found:
            if feature is None or m.feature == feature:
                into.append(Finding(_kind(m.measure), m.feature, case, m.value, m.threshold, scenario))

    for old, new in PAIRS:
        counts = (_counts(config, frames[old]), _counts(config, frames[new]))
        add(natural, "natural", f"span {new} vs {old}", _drift(config, settings, stats[old], stats[new], counts))
        for feature in numeric:
            for name, change in _numeric_changes(frames[old][feature].mean()).items():
                for into, target in ((shifted, old), (on_top, new)):
                    frame = frames[target].assign(**{feature: change(frames[target][feature])})
                    found = _drift(config, settings, stats[old], _statistics(frame, schema))
                    add(into, f"numeric {name}", f"span {target} {feature} {name} vs {old}", found, feature)
        for feature in categorical:
            shares = frames[old][feature].value_counts(normalize=True)
            for value in (shares.index[0], shares.index[len(shares) // 2]):
                for into, target in ((shifted, old), (on_top, new)):
                    frame = _gain(frames[target], feature, value, rng)
                    found = _drift(config, settings, stats[old], _statistics(frame, schema))
                    case = f"span {target} {feature}={value} +20 pts vs {old}"
                    add(into, "categorical value +20 pts", case, found, feature)
        reference, newest = counts
        for sign in (1, -1):
            rate = reference.positives / reference.rows + sign * 0.1
            moved = policy.LabelCounts(newest.rows, int(round(rate * newest.rows)))
            label = policy.label_measurement(moved, reference, settings)
            case = f"rate {sign * 0.1:+.1f} at span {new}'s {newest.rows} rows vs {old}"
            add(shifted, "label rate +-0.1", case, [label])
    return natural, shifted, on_top


def _kind(measure: str) -> str:
    return "label rate change" if measure.startswith("change of the positive rate") else measure


def skew_findings(config, schema) -> tuple[list[Finding], list[Finding]]:
    """(matching traffic, half of the traffic with one numeric input x10)."""
    rng = np.random.default_rng(SEED)
    inputs = config.features.raw_features
    matching, shifted = [], []
    for span in range(1, 5):
        frame = _frame(config, schema, span)[list(inputs)]
        training = _statistics(_frame(config, schema, span), schema)
        skew_schema = skew_compare.skew_schema(training, inputs, config.skew)
        numeric = [
            f.name for f in skew_schema.feature if f.name in inputs and not f.skew_comparator.HasField("infinity_norm")
        ]

        def measure(rows: pd.DataFrame, training=training, skew_schema=skew_schema) -> list[skew_compare.Measurement]:
            serving = skew_compare.serving_statistics(rows.reset_index(drop=True), skew_schema)
            return skew_compare.compare(training, serving, skew_schema, config.skew)[0]

        for sample in range(SKEW_SAMPLES):
            rows = frame.sample(SKEW_ROWS, random_state=int(rng.integers(2**31)))
            case = f"span {span} sample {sample}"
            matching += [Finding(m.measure, m.feature, case, m.value, m.threshold) for m in measure(rows)]
        rows = frame.sample(SKEW_ROWS, random_state=int(rng.integers(2**31)))
        for feature in numeric:
            half = rows.copy()
            half.loc[half.index[: SKEW_ROWS // 2], feature] = half[feature].iloc[: SKEW_ROWS // 2] * 10
            found = [m for m in measure(half) if m.feature == feature]
            case = f"span {span} half {feature} x10"
            shifted += [Finding(m.measure, feature, case, m.value, m.threshold, "half of one input x10") for m in found]
    return matching, shifted


def _natural_table(passing: list[Finding]) -> list[str]:
    """Per measure: the largest value where every case must pass, against its threshold."""
    lines = ["| measure | threshold | largest value (where) | margin |", "|---|---|---|---|"]
    for kind in sorted({f.measure for f in passing}):
        high = max((f for f in passing if f.measure == kind), key=lambda f: f.margin)
        lines.append(
            f"| {kind} | {high.threshold:g} | {high.value:.3f} ({high.feature}, {high.case}) | {high.margin:.2f} |"
        )
    return lines


def _deciding(findings: list[Finding]) -> dict[str, Finding]:
    """Per case, the measure that comes closest to blocking it (the largest value / threshold)."""
    cases: dict[str, Finding] = {}
    for f in findings:
        if f.case not in cases or f.margin > cases[f.case].margin:
            cases[f.case] = f
    return cases


def _shifted_table(blocked: list[Finding], on_top: list[Finding] | None = None) -> list[str]:
    """Per kind of shift: the case that comes closest to passing, by the measure that blocks it."""
    extra = on_top is not None
    lines = [
        "| shift | cases | blocked | closest case (blocked by) | margin |" + (" on top of natural: blocked |" * extra),
        "|---|---|---|---|---|" + ("---|" * extra),
    ]
    for scenario in sorted({f.scenario for f in blocked}):
        cases = _deciding([f for f in blocked if f.scenario == scenario]).values()
        low = min(cases, key=lambda f: f.margin)
        caught = sum(f.margin > 1 for f in cases)
        cells = [
            scenario,
            str(len(cases)),
            str(caught),
            f"{low.case} ({low.measure} {low.value:.3f})",
            f"{low.margin:.2f}",
        ]
        if extra:
            mine = _deciding([f for f in on_top if f.scenario == scenario]).values()
            cells.append(f"{sum(f.margin > 1 for f in mine)} of {len(mine)}" if mine else "not measured")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    config = config_lib.load(CONFIG)
    schema = tfdv.load_schema_text(config.data.schema)
    natural, shifted, on_top = drift_findings(config, schema)
    matching, half = skew_findings(config, schema)
    report = "\n".join([
        "## Drift and skew calibration on the shipped spans (bench/drift_calibration.py)", "",
        "Margin: value / threshold (at most 1 passes, above 1 blocks).", "",
        "### Drift: natural span-to-span changes (all must pass)", "", *_natural_table(natural), "",
        "### Drift: one change applied to the reference span itself (all must be blocked)", "",
        *_shifted_table(shifted, on_top), "",
        f"### Skew: {SKEW_SAMPLES} samples of {SKEW_ROWS} training rows per span (all must pass)", "",
        *_natural_table(matching), "",
        f"### Skew: {SKEW_ROWS} training rows, half of them with one numeric input x10 (all must alarm)", "",
        *_shifted_table(half), "",
    ])  # fmt: skip
    failures = [f for f in natural + matching if f.margin > 1]
    failures += [f for f in _deciding(shifted + half).values() if f.margin <= 1]
    for f in failures:
        report += f"\nNOT AS REQUIRED: {f.case}: {f.measure} {f.feature} {f.value:.3f} against {f.threshold:g}"
    found = {"natural": natural, "shifted": shifted, "shifted_on_top_of_natural": on_top, "skew_matching": matching,
             "skew_half_x10": half}  # fmt: skip
    results.write("drift_calibration", {k: [dataclasses.asdict(f) for f in v] for k, v in found.items()}, report)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
