"""The promote / roll back / wait rules on a replay table of realistic numbers.

The quality intervals are what an unpaired canary-vs-stable comparison gives: each AUC's standard error by Hanley and
McNeil (1982) at the taxi label's positive rate (about 40 %), the difference's as the root of their sum of squares.
"""

import dataclasses
import math

import pytest

from pipeline.config_rollout import RolloutConfig
from rollout import rules

RULES = RolloutConfig()
POSITIVE_RATE = 0.4


def _auc_se(auc: float, n: int) -> float:
    positives, negatives = n * POSITIVE_RATE, n * (1 - POSITIVE_RATE)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(variance / (positives * negatives))


def _quality(canary_auc: float, stable_auc: float, n_canary: int, n_stable: int | None = None) -> rules.Quality:
    n_stable = n_stable or 19 * n_canary  # a 5 % canary: the stable route gathers 19 times the outcomes
    se = math.hypot(_auc_se(canary_auc, n_canary), _auc_se(stable_auc, n_stable))
    difference, z = canary_auc - stable_auc, 1.959964
    return rules.Quality(
        "auc", rules.Interval(canary_auc), rules.Interval(stable_auc),
        rules.Interval(difference, difference - z * se, difference + z * se), n_canary, n_stable, paired=False,
    )  # fmt: skip


def _evidence(quality=None, *, requests=2000, errors=2, p99_ms=12.0, stable_p99_ms=11.0, skew=None, **changes):
    evidence = rules.Evidence(
        model="chicago_taxi", mode="canary", candidate=2, stable=1,
        candidate_traffic=rules.Traffic("canary", 2, requests, errors, p99_ms),
        stable_traffic=rules.Traffic("stable", 1, 19 * requests, 5, stable_p99_ms),
        quality=quality or _quality(0.91, 0.91, 5000), skew=skew,
    )  # fmt: skip
    return dataclasses.replace(evidence, **changes)


REPLAY = [
    # (what, evidence, action, the check that decides, words of the reason)
    ("equal AUC, 300 labelled: too few to judge", _evidence(_quality(0.90, 0.91, 300)), "wait", "quality",
     "quality judged from 1000"),
    ("0.90 vs 0.91, 5,000 labelled: interval straddles -0.01", _evidence(_quality(0.90, 0.91, 5000)), "wait",
     "quality", "not yet shown within the margin"),
    ("equal AUC, 5,000 labelled: non-inferior", _evidence(_quality(0.91, 0.91, 5000)), "promote", "quality",
     "not worse by more than the margin"),
    ("0.905 vs 0.91, 20,000 labelled: within the margin", _evidence(_quality(0.905, 0.91, 20000)), "promote",
     "quality", "not worse by more than the margin"),
    ("0.80 vs 0.91, 1,000 labelled: significantly worse", _evidence(_quality(0.80, 0.91, 1000)), "rollback",
     "quality", "worse beyond the margin"),
    ("0.90 vs 0.91, 25,000 labelled: never shown", _evidence(_quality(0.90, 0.91, 25000)), "rollback", "quality",
     "after max_labelled 20000"),
    ("3 % errors over 2,000 requests", _evidence(errors=60), "rollback", "errors", "above max_error_rate 1.00%"),
    ("1 error in 20 requests: too few to tell", _evidence(requests=20, errors=1), "wait", "errors",
     "not yet significantly"),
    ("every request fails, 20 requests", _evidence(requests=20, errors=20), "rollback", "errors", "100.00%"),
    ("p99 past 250 ms, stable fast", _evidence(p99_ms=340.0), "rollback", "latency", "above max_p99_ms 250"),
    ("p99 past 250 ms, stable as slow", _evidence(p99_ms=340.0, stable_p99_ms=612.0), "wait", "latency",
     "stable is as slow"),
    ("skew alarm", _evidence(skew=rules.SkewFinding("skew-1.json", [
        {"feature": "fare", "measure": "median_change", "value": 2.5, "threshold": 0.7}])), "rollback", "skew",
     "fare median_change 2.500 > 0.7"),
    ("no server metrics", _evidence(candidate_traffic=None, notes={"traffic": "cannot read http://x/metrics"}),
     "wait", "errors", "cannot read http://x/metrics"),
]  # fmt: skip


@pytest.mark.parametrize("what, evidence, action, deciding, words", REPLAY, ids=[row[0] for row in REPLAY])
def test_replay_table(what, evidence, action, deciding, words):
    decision = rules.decide(evidence, RULES)
    assert decision.action == action, decision.reason
    check = next(c for c in decision.checks if c.name == deciding)
    assert words in check.reason and words in decision.reason, decision.reason
    if action == "rollback":
        assert decision.reason.startswith(f"{deciding}: ")


def test_a_promotion_names_the_numbers_it_rests_on():
    decision = rules.decide(_evidence(_quality(0.91, 0.91, 5000)), RULES)
    quality = next(c for c in decision.checks if c.name == "quality")
    assert quality.measure == "auc_difference" and quality.threshold == -0.01 and quality.reference == 1
    assert quality.low >= -0.01 and quality.n == 5000
    assert "auc 0.9100 vs stable 0.9100 (version 1): difference +0.0000, 95% CI [-0.0" in decision.reason
    assert [m["name"] for m in decision.measures()] == ["skew", "errors", "latency", "quality"]


def test_rollback_reasons_come_in_order_skew_errors_latency_quality():
    over = {"feature": "fare", "measure": "jensen_shannon", "value": 0.5, "threshold": 0.3}
    skew = rules.SkewFinding("r.json", [over])
    evidence = _evidence(_quality(0.80, 0.91, 1000), errors=100, p99_ms=900.0, skew=skew)
    assert rules.decide(evidence, RULES).reason.startswith("skew: ")
    assert rules.decide(dataclasses.replace(evidence, skew=None), RULES).reason.startswith("errors: ")
    no_skew_check = dataclasses.replace(RULES, skew_rollback=False)
    assert next(c for c in rules.decide(evidence, no_skew_check).checks if c.name == "skew").status == "ok"


def test_wilson_interval_at_zero_and_at_the_edges():
    none = rules.wilson(0, 300, 0.95)
    assert none.value == 0 and none.low == 0 and 0.012 < none.high < 0.013  # about 3.8 / n
    assert rules.wilson(0, 0, 0.95).value is None
    every = rules.wilson(20, 20, 0.95)
    assert every.high == 1 and 0.83 < every.low < 0.84
