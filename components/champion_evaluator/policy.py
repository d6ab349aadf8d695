"""When a candidate may replace the served model: the push policy applied to AUC differences and their intervals.

Pure Python, no TFX types. Both policies judge the candidate's AUC minus the served model's on the same eval rows,
with DeLong's confidence interval of that difference (delong.py):
- superiority: the candidate must be better by more than `margin`, and the interval must lie above zero (the gain is
  not sampling noise);
- non_inferiority: the candidate, trained on newer data, is pushed unless it may be worse by more than `margin` (the
  tolerated loss): the interval's lower bound must lie above -margin.
Under both, no slice of at least `min_slice_size` eval rows may be shown worse by more than the margin (its interval,
widened for the number of slices judged (Bonferroni), lies entirely below -margin); smaller slices are listed only.
The value thresholds (TFMA's) gate on their own; a candidate identical to the served model has nothing to be judged
on here (the Pusher never pushes it again).
"""

import dataclasses
import math

from components.champion_evaluator import delong

SUPERIORITY, NON_INFERIORITY = "superiority", "non_inferiority"
POLICIES = (SUPERIORITY, NON_INFERIORITY)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The `evaluation.comparison` section of the configuration, as the Evaluator receives it."""

    policy: str
    margin: float
    confidence: float
    min_slice_size: int

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy '{self.policy}'; choose one of {', '.join(POLICIES)}")


@dataclasses.dataclass(frozen=True)
class Difference:
    """The candidate's AUC minus the served model's on one set of rows (None: undefined, a class is missing)."""

    candidate: float | None
    baseline: float | None
    difference: float | None
    std_error: float | None
    positives: int
    negatives: int

    @property
    def rows(self) -> int:
        return self.positives + self.negatives

    def interval(self, confidence: float) -> tuple[float, float] | None:
        """The two-sided normal interval of the difference at `confidence`, or None when undefined."""
        if self.difference is None or self.std_error is None:
            return None
        half_width = delong.z_score(confidence) * self.std_error
        return self.difference - half_width, self.difference + half_width


@dataclasses.dataclass(frozen=True)
class SliceDifference:
    """One slice's difference, e.g. payment_type = Cash."""

    feature: str
    value: str
    found: Difference

    def describe(self) -> str:
        return f"{self.feature} = {self.value}"


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether the comparison with the served model lets the candidate through, and the one line that says why."""

    passed: bool
    reason: str


def judged(slice_difference: SliceDifference, settings: Settings) -> bool:
    """Whether a slice is large enough to chart and to judge: `min_slice_size` rows and a defined interval."""
    found = slice_difference.found
    return found.rows >= settings.min_slice_size and found.interval(settings.confidence) is not None


def describe(found: Difference, confidence: float) -> str:
    """E.g. "AUC -0.0006, 95% CI [-0.0040, +0.0031]"; the measure, its value and its uncertainty in one phrase."""
    interval = found.interval(confidence)
    if interval is None:
        return "AUC difference n/a (a label class has fewer than 2 eval rows)"
    return f"AUC {found.difference:+.4f}, {_percent(confidence)} CI [{interval[0]:+.4f}, {interval[1]:+.4f}]"


def decide(
    settings: Settings,
    overall: Difference | None,
    slices: list[SliceDifference],
    served_version: int | None,
    identical: bool,
) -> Decision:
    """Applies the policy to the overall difference, then the slice check (nothing served: thresholds only)."""
    if served_version is None or overall is None:
        return Decision(True, "nothing served yet: the thresholds alone decide")
    served = f"served version {served_version}"
    if identical:
        return Decision(True, f"the candidate is {served} itself (same SavedModel fingerprint): nothing to compare")
    measured = f"{describe(overall, settings.confidence)} against {served}"
    interval = overall.interval(settings.confidence)
    if interval is None:
        return Decision(False, f"{measured}: the difference cannot be judged; evaluate on rows of both classes")
    margin, lower = settings.margin, interval[0]
    if settings.policy == SUPERIORITY and not (overall.difference > margin and lower > 0):
        return Decision(
            False,
            f"{measured}: superiority needs a gain above the margin {margin:.4f} with the CI above 0; the served model "
            f"stays (evaluation.comparison.policy: {NON_INFERIORITY} accepts a newer model within a tolerance)",
        )
    if settings.policy == NON_INFERIORITY and not lower > -margin:
        return Decision(
            False,
            f"{measured}: the CI's lower bound is below {-margin:+.4f}, so it may be worse by more than the tolerance "
            f"{margin:.4f}; the served model stays (raise evaluation.comparison.margin if such a loss is acceptable)",
        )
    worse = _worse_slice(settings, slices)
    if worse is not None:
        return Decision(False, f"{measured}, but {worse}; the served model stays")
    rule = (
        f"better by more than the margin {margin:.4f} with the CI above 0"
        if settings.policy == SUPERIORITY
        else f"not worse by more than the tolerance {margin:.4f} (the CI is above {-margin:+.4f})"
    )
    return Decision(True, f"{measured}: {rule}")


def _worse_slice(settings: Settings, slices: list[SliceDifference]) -> str | None:
    """The first judged slice whose whole Bonferroni-widened interval lies below -margin, described; else None."""
    judged_slices = [s for s in slices if judged(s, settings)]
    if not judged_slices:
        return None
    # Many slices at the overall level would flag some by chance: each gets 1 - (1 - confidence) / k.
    confidence = 1 - (1 - settings.confidence) / len(judged_slices)
    for slice_difference in sorted(judged_slices, key=lambda s: s.found.difference):
        lower, upper = slice_difference.found.interval(confidence)
        if upper < -settings.margin:
            return (
                f"on {slice_difference.describe()} (n={slice_difference.found.rows}) AUC "
                f"{slice_difference.found.difference:+.4f}, {_percent(confidence)} CI [{lower:+.4f}, {upper:+.4f}] "
                f"(Bonferroni over {len(judged_slices)} slices of n>={settings.min_slice_size}) is worse by more than "
                f"{settings.margin:.4f}"
            )
    return None


def _percent(confidence: float) -> str:
    """0.95 -> "95%", 0.99875 -> "99.875%" (no more digits than the level has)."""
    return f"{math.floor(confidence * 1e5 + 0.5) / 1e3:g}%"


def finite(value: float | None) -> float | None:
    """The value if it is a finite number, else None (TFMA writes undefined metrics as NaN)."""
    return float(value) if value is not None and math.isfinite(value) else None
