"""The configuration file's `drift` and `skew` sections: the thresholds of the checks that compare distributions
(the newest span against its reference before training; serving requests against the training data in `kfx monitor`).
"""

from typing import Annotated

from pydantic import Field, StrictFloat

from pipeline.config_types import Action, Change, Column, Measure, section


@section
class DriftDefault:
    """Thresholds of the drift measures for every feature, and what crossing them does (calibrated on the shipped
    spans: README "Drift", bench/drift_calibration.py)."""

    jensen_shannon: Measure = Field(0.3, description="Largest Jensen-Shannon divergence (shape), in (0, 1].")
    infinity_norm: Measure = Field(
        0.15, description="Largest change of one value's share (categorical features), in (0, 1]."
    )
    median_change: Change = Field(
        0.17, description="Largest relative change of the median of the non-zero values (numeric features)."
    )
    action: Action = Field("block", description="block: stop the run; warn: report only.")


@section
class FeatureDrift:
    """One feature's own thresholds and action (None: as drift.default)."""

    jensen_shannon: Measure | None = Field(None, description="Largest Jensen-Shannon divergence, in (0, 1].")
    infinity_norm: Measure | None = Field(None, description="Largest change of one value's share, in (0, 1].")
    median_change: Change | None = Field(None, description="Largest relative change of the non-zero median.")
    action: Action | None = Field(None, description="block: stop the run; warn: report only.")


@section
class LabelDrift:
    """Largest change of the label's positive rate (absolute) from the reference span, at a confidence: the change
    counts only as large as the lower bound of its confidence interval, so a small span's noise does not block."""

    max_rate_change: Measure = Field(0.05, description="Largest change of the positive rate, in (0, 1].")
    confidence: Annotated[StrictFloat, Field(gt=0, lt=1)] = Field(
        0.95, description="Confidence of the interval of the change (two-sided), in (0, 1)."
    )
    action: Action = "block"


@section
class RowCountDrift:
    """Allowed row count of the newest span, as a fraction of the reference span's."""

    min_fraction: StrictFloat = Field(0.1, gt=0, le=1)
    max_fraction: StrictFloat = Field(10.0, ge=1)
    action: Action = "warn"


@section
class DriftConfig:
    """The newest span against its reference (the last span that passed the check), checked before Transform."""

    default: DriftDefault = DriftDefault()
    features: dict[Column, FeatureDrift] = Field(default_factory=dict, description="Per-feature overrides.")
    label: LabelDrift = LabelDrift()
    row_count: RowCountDrift = RowCountDrift()


@section
class SkewDefault:
    """Thresholds of the skew measures for every model feature (calibrated: README "Training/serving skew")."""

    jensen_shannon: Measure = Field(0.3, description="Largest Jensen-Shannon divergence, in (0, 1].")
    infinity_norm: Measure = Field(0.2, description="Largest change of one value's share (categorical), in (0, 1].")
    median_change: Change = Field(
        0.7, description="Largest relative change of the median of the non-zero values (numeric features)."
    )


@section
class SkewCheck:
    """Thresholds of the skew measures for one feature (None: as skew.default)."""

    jensen_shannon: Measure | None = Field(None, description="Largest Jensen-Shannon divergence, in (0, 1].")
    infinity_norm: Measure | None = Field(None, description="Largest change of one value's share, in (0, 1].")
    median_change: Change | None = Field(None, description="Largest relative change of the non-zero median.")


@section
class SkewConfig:
    """Serving requests against the training data of the version that answered them (`kfx monitor`)."""

    default: SkewDefault = SkewDefault()
    features: dict[Column, SkewCheck] = Field(default_factory=dict, description="Per-feature overrides.")
