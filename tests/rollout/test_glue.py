"""The glue to parts A and B: the routing file in the contract's JSON, and the reading of an online report shaped as
the rules read it, from request logs and outcomes stored as `kfx feedback` stores them."""

import json

import numpy as np
import pytest
from prediction_logs import MODEL, Logged, write_logs

from feedback import store
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


def _logged_with_outcomes(tmp_path, rng, canary_noise: float, n: int = 1500):
    """Request logs of a stable version 1 and a canary version 2 on the same kind of traffic, and the outcomes of
    every row, as `kfx feedback` stores them: the canary's scores are the truth blurred by `canary_noise`."""
    entries, outcomes = [], []
    for index in range(2 * n):
        label = int(rng.random() < 0.3)
        canary = index % 2 == 1
        noise = canary_noise if canary else 0.8
        score = 1 / (1 + np.exp(-(2.5 * (label - 0.5) + rng.normal(0, noise))))
        request_id = f"r{index}"
        entries.append(Logged(request_id, 2 if canary else 1, "canary" if canary else "stable", [float(score)]))
        outcomes.append(store.Outcome(request_id, 0, label, None, f"test:{index}"))
    logs = write_logs(str(tmp_path / "logs"), entries)
    outcomes_path = store.path(str(tmp_path / "ws"))
    store.add(outcomes_path, outcomes)
    return logs, outcomes_path


def test_online_quality_is_read_from_the_logs_and_outcomes_as_the_rules_need_it(tmp_path):
    logs, outcomes = _logged_with_outcomes(tmp_path, np.random.default_rng(7), canary_noise=3.0)
    quality, note = glue.online_quality(logs, outcomes, MODEL, "canary", 2, 1, None, 0.95)
    assert note == "" and (quality.candidate_labelled, quality.stable_labelled, quality.paired) == (1500, 1500, False)
    assert quality.candidate.value < quality.stable.value  # the blurred canary ranks worse
    difference = quality.difference
    assert difference.low < difference.value < difference.high < 0
    assert difference.value == pytest.approx(quality.candidate.value - quality.stable.value)
    missing, why = glue.online_quality(logs, outcomes, MODEL, "shadow", 2, 1, None, 0.95)
    assert missing is None and why == "no logged predictions of version 2 (shadow) and 1 (stable) yet"


def test_without_outcomes_quality_is_unknown_and_says_why(tmp_path):
    quality, note = glue.online_quality(str(tmp_path), str(tmp_path / "o.sqlite"), "m", "canary", 2, 1, None, 0.95)
    assert quality is None and "kfx feedback" in note
