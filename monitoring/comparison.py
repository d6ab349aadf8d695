"""The comparison of the candidate with the served model, read back from the Evaluator's blessing, in words.

The Evaluator writes `comparison.json` beside its blessing (components/champion_evaluator/executor.py): the policy,
the AUC difference on the same eval rows with its confidence interval, overall and per slice, and the decision. The
summary and the report say the same things from it, in the same words.
"""

import json
import os
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from components.champion_evaluator import policy
from components.champion_evaluator import properties as evaluator_properties

# The slice size below which a slice is listed only, for runs recorded without it.
DEFAULT_MIN_SLICE_SIZE = 30
_SHOWN_SLICES = 3


def load(blessing: metadata_store_pb2.Artifact | None) -> dict[str, Any] | None:
    """The Evaluator's comparison record, or None when the blessing has none (an older run, or no Evaluator)."""
    if blessing is None:
        return None
    import tensorflow as tf  # here: the summary's text (a cached rerun's answer) needs no TensorFlow

    path = os.path.join(blessing.uri, evaluator_properties.COMPARISON_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def min_slice_size(comparison: dict[str, Any] | None) -> int:
    """The slice size the Evaluator judged from (n >= this), the same for the summary and the report."""
    return comparison["min_slice_size"] if comparison else DEFAULT_MIN_SLICE_SIZE


def interval_text(row: dict[str, Any], confidence: float) -> str:
    """E.g. "AUC -0.0006, 95% CI [-0.0040, +0.0031]" for a row of the record (overall or one slice)."""
    return policy.describe(_difference(row), confidence)


def sample_text(comparison: dict[str, Any] | None) -> str | None:
    """E.g. "on 40,000 of 300,000 eval rows (hash sample)" when the Evaluator scored a sample, else None."""
    sample = (comparison or {}).get("sample")
    if not sample or sample["evaluated_rows"] >= sample["eval_rows"]:
        return None
    return f"on {sample['evaluated_rows']:,} of {sample['eval_rows']:,} eval rows ({sample['method']})"


def headline(comparison: dict[str, Any] | None) -> str | None:
    """The key metric against the served model in one line, or None when nothing was served to compare with."""
    if not comparison or comparison.get("served_version") is None or comparison.get("overall") is None:
        return None
    overall = comparison["overall"]
    rule = "gain required" if comparison["policy"] == policy.SUPERIORITY else "loss tolerated"
    sampled = sample_text(comparison)
    rows = f"{sampled}, an interval wider than on every row" if sampled else f"{overall['rows']:,} eval rows"
    return (
        f"{interval_text(overall, comparison['confidence'])} against served version {comparison['served_version']} "
        f"(DeLong, {rows}; policy {comparison['policy']}, {rule} {comparison['margin']:.4f})"
    )


def slice_line(comparison: dict[str, Any] | None, feature: str) -> str | None:
    """The judged slices of `feature` where the candidate lost most against the served model, in one line."""
    rows = [row for row in comparison["slices"] if row["feature"] == feature] if headline(comparison) else []
    if not rows:
        return None
    judged = judged_slices(comparison, feature)
    lowest = ", ".join(
        f"{row['value']} {row['difference']:+.4f} [{row['lower']:+.4f}, {row['upper']:+.4f}] (n={row['rows']})"
        for row in judged[:_SHOWN_SLICES]
    )
    return (
        f"  vs served by {feature}: {len(judged)} of {len(rows)} slices judged (n>={min_slice_size(comparison)}, "
        f"both classes)" + (f"; lowest change: {lowest}" if lowest else "")
    )


def judged_slices(comparison: dict[str, Any] | None, feature: str) -> list[dict[str, Any]]:
    """The slices of `feature` large enough to chart (n >= min_slice_size, an interval), lowest difference first."""
    if not comparison:
        return []
    rows = [row for row in comparison["slices"] if row["feature"] == feature and row["judged"]]
    return sorted(rows, key=lambda row: row["difference"])


def _difference(row: dict[str, Any]) -> policy.Difference:
    return policy.Difference(
        candidate=row["candidate"],
        baseline=row["baseline"],
        difference=row["difference"],
        std_error=row["std_error"],
        positives=row["positives"],
        negatives=row["negatives"],
    )
