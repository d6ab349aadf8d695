"""The glue to parts A and B: the routing file in the contract's JSON, and the reading of an online report shaped as
CONTRACT.md section 3 declares it (until monitoring.online is merged, these stand-ins have its field names)."""

import dataclasses
import json

import pytest

from rollout import glue


def test_routes_are_written_atomically_keeping_other_models(tmp_path):
    path = str(tmp_path / "routing.json")
    assert glue.read_routes(path) == {}
    glue.write_route(path, "chicago_taxi", 0.05, 0.0)
    glue.write_route(path, "other", 0.0, 0.5)
    glue.write_route(path, "chicago_taxi", 0.0, 0.0)
    with open(path) as f:
        assert json.load(f) == {"models": {"chicago_taxi": {"canary_weight": 0.0, "shadow_sample": 0.0},
                                           "other": {"canary_weight": 0.0, "shadow_sample": 0.5}}}  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["routing.json"]  # no temporary file left


@pytest.mark.parametrize("text", ["{", '{"models": []}', "[]"])
def test_a_bad_routing_file_names_itself_and_the_fix(tmp_path, text):
    path = tmp_path / "routing.json"
    path.write_text(text)
    with pytest.raises(glue.RoutingFileError, match="routing.json"):
        glue.read_routes(str(path))


@dataclasses.dataclass
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    reason: str = ""


@dataclasses.dataclass
class VersionRoute:
    version: str
    route: str
    predictions: int
    labelled: int
    auc: Estimate


@dataclasses.dataclass
class Comparison:
    candidate_version: str
    candidate_route: str
    baseline_version: str
    paired: bool
    measure: str
    difference: Estimate
    n: int


@dataclasses.dataclass
class Report:
    versions: list
    comparisons: list


def test_an_online_report_becomes_the_quality_the_rules_read():
    report = Report(
        [VersionRoute("1", "stable", 40000, 30000, Estimate(0.912, 0.908, 0.916)),
         VersionRoute("2", "canary", 2000, 1500, Estimate(0.905, 0.889, 0.921)),
         VersionRoute("2", "direct", 10, 10, Estimate(None, None, None, "too few"))],
        [Comparison("2", "canary", "1", False, "log_loss", Estimate(0.01, 0.0, 0.02), 1500),
         Comparison("2", "canary", "1", False, "auc", Estimate(-0.007, -0.024, 0.010), 1500)],
    )  # fmt: skip
    quality, note = glue.quality_from_report(report, "canary", 2, 1)
    assert note == "" and quality.difference.value == -0.007 and quality.difference.low == -0.024
    assert (quality.candidate.value, quality.stable.value) == (0.905, 0.912)
    assert (quality.candidate_labelled, quality.stable_labelled, quality.paired) == (1500, 30000, False)
    assert glue.quality_from_report(report, "shadow", 2, 1) == (
        None, "no logged predictions of version 2 (shadow) and 1 (stable) yet")  # fmt: skip


def test_without_part_b_quality_is_unknown_and_says_why(tmp_path):
    quality, note = glue.online_quality(str(tmp_path), str(tmp_path / "o.sqlite"), "m", "canary", 2, 1, None, 0.95)
    assert quality is None and note
