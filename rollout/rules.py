"""The decision of `kfx rollout step`: promote, roll back or wait, from plain numbers (no server, no store).

Four checks of the candidate (the canary's or shadow's version), each `ok`, `wait` or `rollback`:
- skew: a `kfx monitor` skew alarm for the candidate since the rollout started rolls it back (rollout.skew_rollback);
- errors: the share of failed candidate requests, with a Wilson interval: roll back when even its low end is above
  rollout.max_error_rate; ok when the observed share is within it;
- latency: the candidate's p99 (an upper bucket bound of the server's histogram), judged after min_requests
  requests: roll back above rollout.max_p99_ms, unless the stable version is as slow (then the server is slow);
- quality: candidate minus stable (AUC) with its interval, judged once both routes have min_labelled labelled
  predictions: roll back when the high end is below -margin (significantly worse), ok when the low end is at least
  -margin (not worse by more than the margin), roll back after max_labelled if that is still not shown.
Any rollback -> roll back (the first in that order is the reason); all ok -> promote; else wait.
"""

import dataclasses
import math
from typing import Any, Literal

from pipeline.config_rollout import RolloutConfig

Status = Literal["ok", "wait", "rollback"]
Action = Literal["start", "promote", "rollback", "wait"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A value with its confidence interval; None where it could not be computed."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclasses.dataclass(frozen=True)
class Traffic:
    """What the server's metrics say about one route's version since it started."""

    route: str
    version: int
    requests: int
    errors: int
    p99_ms: float | None  # upper bound of the histogram bucket holding the 99th percentile; None: no requests


@dataclasses.dataclass(frozen=True)
class Quality:
    """Online quality of the candidate and the stable version, and their difference (candidate - stable)."""

    measure: str
    candidate: Interval
    stable: Interval
    difference: Interval
    candidate_labelled: int
    stable_labelled: int
    paired: bool  # shadow vs stable on the same requests; canary vs stable: different requests
    note: str = ""  # why a value is missing


@dataclasses.dataclass(frozen=True)
class SkewFinding:
    """The newest skew report since the rollout started that covers the candidate."""

    report: str
    over: list[dict[str, Any]]  # {feature, measure, value, threshold} past their threshold


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Everything a step decides on. None means "not available", with the reason in `notes`."""

    model: str
    mode: str  # canary or shadow
    candidate: int
    stable: int | None
    candidate_traffic: Traffic | None
    stable_traffic: Traffic | None
    quality: Quality | None
    skew: SkewFinding | None
    notes: dict[str, str] = dataclasses.field(default_factory=dict)  # check name -> why its input is missing


@dataclasses.dataclass(frozen=True)
class Check:
    """One rule's verdict with the numbers behind it."""

    name: str
    status: Status
    reason: str
    measure: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    n: int | None = None
    reference: int | None = None  # the stable version compared with


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    checks: list[Check]

    def measures(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(check) for check in self.checks]


def wilson(successes: int, trials: int, confidence: float) -> Interval:
    """The Wilson score interval of a proportion (sound at 0 and at small counts, unlike the normal one)."""
    if trials <= 0:
        return Interval(None)
    z = _z(confidence)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def check_skew(evidence: Evidence, rules: RolloutConfig) -> Check:
    if not rules.skew_rollback:
        return Check("skew", "ok", "skew not checked (rollout.skew_rollback: false)")
    if evidence.skew is None:
        why = evidence.notes.get("skew", "no kfx monitor skew report covers it since the rollout started")
        return Check("skew", "ok", f"no skew alarm ({why})")
    if not evidence.skew.over:
        return Check("skew", "ok", f"no skew past a threshold in {evidence.skew.report}")
    first = evidence.skew.over[0]
    listed = ", ".join(f"{o['feature']} {o['measure']} {o['value']:.3f} > {o['threshold']}" for o in evidence.skew.over)
    return Check(
        "skew", "rollback", f"skew alarm for version {evidence.candidate}: {listed} ({evidence.skew.report})",
        measure=f"{first['feature']}.{first['measure']}", value=first["value"], threshold=first["threshold"],
    )  # fmt: skip


def check_errors(evidence: Evidence, rules: RolloutConfig) -> Check:
    traffic = evidence.candidate_traffic
    if traffic is None:
        return Check("errors", "wait", f"errors unknown: {evidence.notes.get('traffic', 'no server metrics')}")
    if traffic.requests == 0:
        return Check("errors", "wait", f"no {traffic.route} requests yet", measure="error_rate", n=0)
    rate = wilson(traffic.errors, traffic.requests, rules.confidence)
    numbers = dict(measure="error_rate", value=rate.value, low=rate.low, high=rate.high,
                   threshold=rules.max_error_rate, n=traffic.requests)  # fmt: skip
    interval = f"CI [{rate.low:.2%}, {rate.high:.2%}]"
    observed = f"error rate {rate.value:.2%} ({traffic.errors}/{traffic.requests}, {interval})"
    if rate.low > rules.max_error_rate:
        return Check("errors", "rollback", f"{observed}: above max_error_rate {rules.max_error_rate:.2%}", **numbers)
    if rate.value <= rules.max_error_rate:
        return Check("errors", "ok", f"{observed} within max_error_rate {rules.max_error_rate:.2%}", **numbers)
    return Check("errors", "wait", f"{observed}: above {rules.max_error_rate:.2%}, not yet significantly", **numbers)


def check_latency(evidence: Evidence, rules: RolloutConfig) -> Check:
    traffic, stable = evidence.candidate_traffic, evidence.stable_traffic
    if traffic is None:
        return Check("latency", "wait", f"latency unknown: {evidence.notes.get('traffic', 'no server metrics')}")
    answered = traffic.requests - traffic.errors
    numbers = dict(measure="p99_ms", value=traffic.p99_ms, threshold=rules.max_p99_ms, n=answered,
                   reference=evidence.stable)  # fmt: skip
    if answered < rules.min_requests or traffic.p99_ms is None:
        why = f"p99 judged after {rules.min_requests} requests ({answered} so far)"
        return Check("latency", "wait", why, **numbers)
    reference = f" (stable {stable.p99_ms:g} ms)" if stable and stable.p99_ms is not None else ""
    observed = f"p99 <= {traffic.p99_ms:g} ms{reference}"
    if traffic.p99_ms <= rules.max_p99_ms:
        return Check("latency", "ok", f"{observed} within max_p99_ms {rules.max_p99_ms:g}", **numbers)
    if stable and stable.p99_ms is not None and stable.p99_ms >= traffic.p99_ms:
        return Check("latency", "wait", f"{observed}: above {rules.max_p99_ms:g} ms, but stable is as slow", **numbers)
    return Check("latency", "rollback", f"{observed}: above max_p99_ms {rules.max_p99_ms:g}", **numbers)


def check_quality(evidence: Evidence, rules: RolloutConfig) -> Check:
    quality = evidence.quality
    if quality is None:
        return Check("quality", "wait", f"quality unknown: {evidence.notes.get('quality', 'no online report')}")
    difference = quality.difference
    n = min(quality.candidate_labelled, quality.stable_labelled)
    numbers = dict(measure=f"{quality.measure}_difference", value=difference.value, low=difference.low,
                   high=difference.high, threshold=-rules.margin, n=n, reference=evidence.stable)  # fmt: skip
    counts = f"{quality.candidate_labelled} {evidence.mode} / {quality.stable_labelled} stable labelled"
    if n < rules.min_labelled:
        return Check("quality", "wait", f"{counts}; quality judged from {rules.min_labelled} each", **numbers)
    if None in (difference.value, difference.low, difference.high):
        return Check("quality", "wait", f"{quality.measure} difference not computable: {quality.note}", **numbers)
    observed = (
        f"{quality.measure} {_number(quality.candidate.value)} vs stable {_number(quality.stable.value)} "
        f"(version {evidence.stable}): difference {difference.value:+.4f}, "
        f"{rules.confidence:.0%} CI [{difference.low:+.4f}, {difference.high:+.4f}], {counts}"
    )
    if difference.high < -rules.margin:
        return Check("quality", "rollback", f"{observed}: worse beyond the margin {rules.margin}", **numbers)
    if difference.low >= -rules.margin:
        return Check("quality", "ok", f"{observed}: not worse by more than the margin {rules.margin}", **numbers)
    if quality.candidate_labelled >= rules.max_labelled:
        why = f"not shown within the margin {rules.margin} after max_labelled {rules.max_labelled}"
        return Check("quality", "rollback", f"{observed}: {why}", **numbers)
    return Check("quality", "wait", f"{observed}: not yet shown within the margin {rules.margin}", **numbers)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


CHECKS = (check_skew, check_errors, check_latency, check_quality)


def decide(evidence: Evidence, rules: RolloutConfig) -> Decision:
    """Roll back if any check says so (the first one is the reason), promote if all are ok, else wait."""
    checks = [check(evidence, rules) for check in CHECKS]
    rollbacks = [c for c in checks if c.status == "rollback"]
    if rollbacks:
        return Decision("rollback", f"{rollbacks[0].name}: {rollbacks[0].reason}", checks)
    waiting = [c for c in checks if c.status == "wait"]
    if waiting:
        return Decision("wait", "; ".join(f"{c.name}: {c.reason}" for c in waiting), checks)
    quality = checks[-1]
    return Decision("promote", f"all checks passed; quality: {quality.reason}", checks)
