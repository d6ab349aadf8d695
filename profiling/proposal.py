"""What `kfx init` proposes for a data path: sample, label rule, roles, baseline, slices and thresholds, with reasons.

`propose` makes every decision; profiling/writer.py turns a Proposal into the configuration file's text.
"""

import dataclasses
import math
import os
import re

import pandas as pd

from pipeline.config import MISSING_VALUES, ComparisonConfig, DataConfig
from profiling import baseline as baseline_lib
from profiling import label as label_lib
from profiling import roles as roles_lib
from profiling import sample as sample_lib

MIN_AUC_THRESHOLD = 0.55
AUC_ALLOWANCE = 0.05  # the threshold sits this far below the baseline's AUC: the DNN may trail boosted trees a little
MAX_SLICES = 3
LEAK_AUC = 0.99  # a feature that alone reaches this held-out AUC (its interval's low end) is left out: a likely leak
SUSPECT_AUC = 0.98  # one whose AUC alone reaches this stays, with a word of warning
MAX_SLICE_VALUES = 25  # a slice column with more values gives a chart nobody reads
EVAL_SHARE = 0.2  # data.split train: 4, eval: 1


@dataclasses.dataclass(frozen=True)
class Proposal:
    """A configuration for a data path, and the reasons for each choice."""

    sample: sample_lib.Sample
    label: label_lib.LabelChoice
    profile: roles_lib.Profile
    baseline: baseline_lib.Baseline | None
    slices: tuple[str, ...]
    auc_threshold: float
    missing_values: tuple[str, ...] | None  # None: the default tokens
    max_missing_label_fraction: float | None  # None: the default

    @property
    def data_name(self) -> str:
        """The data's name: the file's without .csv, or the folder's."""
        return os.path.splitext(os.path.basename(self.sample.data_path.rstrip(os.sep)))[0]

    @property
    def pipeline_name(self) -> str:
        """Kubeflow's rule: lowercase letters, digits and '-', starting with a letter or digit."""
        name = re.sub(r"[^a-z0-9]+", "-", self.data_name.lower()).strip("-")[:128]
        return name or "pipeline"

    @property
    def model_name(self) -> str:
        """A plain directory name for <serving dir>/<model name>/."""
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.data_name).lstrip("_.-")
        return name or "model"

    def decisions(self) -> list[str]:
        """One line per decision, as `kfx init` prints them."""
        sample, dialect = self.sample, self.sample.dialect
        lines = [
            f"data: {len(sample.files)} file(s), {sample.total_rows:,} rows, {len(sample.frame):,} sampled; "
            f"{dialect.describe()}; header of {len(sample.columns)} columns",
            f"label {self.label.name}: {self.label.reason}"
            + (f"; {self.label.missing:,} missing" if self.label.missing else ""),
        ]
        if self.profile.missing_tokens:
            tokens = ", ".join(map(repr, self.profile.missing_tokens))
            lines.append(f"data.missing_values: the defaults plus {tokens} (punctuation among numbers: missing)")
        if self.max_missing_label_fraction is not None:
            lines.append(f"data.max_missing_label_fraction: {self.max_missing_label_fraction} (labels missing)")
        width = max(len(repr(role.column)) for role in self.profile.roles)
        lines += [f"  {role.column!r:<{width}}  {role.role}: {role.reason}" for role in self.profile.roles]
        lines.append(f"baseline: {self.baseline.describe()}" if self.baseline else "baseline: too few rows for one")
        lines.append(f"evaluation.thresholds.auc: {self.auc_threshold} ({self.threshold_reason()})")
        lines.append(f"evaluation.slices: {', '.join(self.slices) or 'none (no categorical feature fits)'}")
        return lines

    def threshold_reason(self) -> str:
        if self.baseline is None:
            return "no baseline: a conservative bound"
        return (
            f"the baseline's AUC {self.baseline.auc:.3f} - {AUC_ALLOWANCE}, rounded down, at least {MIN_AUC_THRESHOLD}"
        )


def propose(
    data_path: str,
    label_column: str,
    positive: tuple[str, ...] = (),
    negative: tuple[str, ...] = (),
    greater_than: float | None = None,
    sample_rows: int = sample_lib.DEFAULT_ROWS,
) -> Proposal:
    """Reads a sample of `data_path` and decides the configuration (DataError when the data or the label does not
    allow one)."""
    sample = sample_lib.read(data_path, sample_rows)
    label = label_lib.choose(sample.frame, label_column, positive, negative, greater_than)
    profile = roles_lib.profile(sample.frame, (label_column,))
    frame = sample.frame.mask(sample.frame.isin(profile.missing_tokens)) if profile.missing_tokens else sample.frame
    labels = label.labels(frame[label_column])
    profile = _without_leaks(profile, frame, labels)
    quick = baseline_lib.quick_baseline(
        frame,
        labels,
        profile.columns(roles_lib.NUMERIC) + profile.columns(roles_lib.BUCKETIZED),
        profile.columns(roles_lib.CATEGORICAL),
    )
    return Proposal(
        sample=sample,
        label=label,
        profile=profile,
        baseline=quick,
        slices=_slices(sample, profile),
        auc_threshold=auc_threshold(quick),
        missing_values=(*MISSING_VALUES, *profile.missing_tokens) if profile.missing_tokens else None,
        max_missing_label_fraction=_missing_label_limit(label.missing / len(sample.frame)),
    )


def _without_leaks(profile: roles_lib.Profile, frame: pd.DataFrame, labels: pd.Series) -> roles_lib.Profile:
    """The profile with each feature that alone predicts the label (the low end of its held-out AUC's 95% interval
    >= LEAK_AUC: on a small sample an easy feature is not called a leak) left out, with its AUC: kept, it would make a
    model that looks perfect and fails on new rows, where the value is not known yet. A feature nearly as strong (AUC
    >= SUSPECT_AUC) stays, with its AUC in the reason, for the user to judge."""
    numeric = profile.columns(roles_lib.NUMERIC) + profile.columns(roles_lib.BUCKETIZED)
    aucs = baseline_lib.alone_aucs(frame, labels, numeric, profile.columns(roles_lib.CATEGORICAL))
    roles = []
    for role in profile.roles:
        auc, low = aucs.get(role.column, (0.0, 0.0))
        if low >= LEAK_AUC:
            why = (
                f"likely leak: alone it predicts the label with held-out AUC {auc:.3f}; list it under features only "
                "if its value is known when a prediction is asked for"
            )
            role = dataclasses.replace(role, role=roles_lib.LEFT_OUT, reason=why)
        elif auc >= SUSPECT_AUC:
            why = f"{role.reason}; alone it reaches AUC {auc:.3f}: make sure it is known when predicting (a leak?)"
            role = dataclasses.replace(role, reason=why)
        roles.append(role)
    return dataclasses.replace(profile, roles=tuple(roles))


def auc_threshold(quick: baseline_lib.Baseline | None) -> float:
    """The baseline's AUC less AUC_ALLOWANCE, rounded down to 2 decimals, at least MIN_AUC_THRESHOLD."""
    if quick is None:
        return MIN_AUC_THRESHOLD
    return max(MIN_AUC_THRESHOLD, math.floor(round((quick.auc - AUC_ALLOWANCE) * 100, 6)) / 100)


def expected_eval_rows(sample: sample_lib.Sample, sampled_rows: int) -> float:
    """Eval rows of the whole data that `sampled_rows` of the sample stand for."""
    return sampled_rows * sample.scale * EVAL_SHARE


def _slices(sample: sample_lib.Sample, profile: roles_lib.Profile) -> tuple[str, ...]:
    """Up to MAX_SLICES categoricals, in header order, with 2..MAX_SLICE_VALUES values, two of them with enough eval
    rows to be judged (comparison.min_slice_size)."""
    chosen = []
    for column in profile.columns(roles_lib.CATEGORICAL):
        counts = sample.frame[column].value_counts()
        judged = sum(expected_eval_rows(sample, n) >= ComparisonConfig.min_slice_size for n in counts)
        if 2 <= len(counts) <= MAX_SLICE_VALUES and judged >= 2 and len(chosen) < MAX_SLICES:
            chosen.append(column)
    return tuple(chosen)


def _missing_label_limit(missing_share: float) -> float | None:
    """A data.max_missing_label_fraction that lets the sample's share of rows without a label through, or None when
    the default does."""
    if missing_share <= DataConfig.max_missing_label_fraction:
        return None
    return min(0.99, math.ceil(missing_share * 100 + 2) / 100)
