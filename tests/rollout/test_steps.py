"""Start, step and abort on a real serving folder of toy SavedModels: the routing file and the labels move in the
contract's order, the history keeps the reasons, ML Metadata keeps the decisions, and a step is safe to repeat."""

# ruff: noqa: F811 - the fixtures come from rollout_env (a conftest.py here would shadow tests/conftest.py)

import json
import os

import pytest
from rollout_env import context, history, routing, toy_versions, version_labels, with_rules  # noqa: F401

from monitoring import decisions as decisions_lib
from monitoring import store as store_lib
from monitoring.skew import SkewReport, VersionSkew
from monitoring.skew_compare import Measurement
from rollout import actions, rules, steps


def _evidence(context, candidate: int, difference: rules.Interval, labelled: int = 5000) -> rules.Evidence:
    quality = rules.Quality("auc", rules.Interval(0.91), rules.Interval(0.91), difference, labelled, 19 * labelled,
                            paired=False)  # fmt: skip
    return rules.Evidence(
        "toy", "canary", candidate, 1, rules.Traffic("canary", candidate, 3000, 1, 12.0),
        rules.Traffic("stable", 1, 57000, 10, 11.0), quality, None,
    )  # fmt: skip


def _recorded(context) -> list[decisions_lib.RolloutDecision]:
    return decisions_lib.of_model(store_lib.connect(context.metadata), "toy")


def test_canary_start_then_promotion_moves_routing_and_labels_and_records_why(context):
    outcome = steps.start(context, 2, "canary", None, "new span")
    assert outcome.action == "start" and outcome.reason == "canary at 5%: new span" and not outcome.warnings
    assert routing(context) == {"canary_weight": 0.05, "shadow_sample": 0.0}
    assert version_labels(context) == {"stable": 1, "canary": 2}
    running = actions.current(context.target)
    assert (running.mode, running.candidate, running.stable, running.share) == ("canary", 2, 1, 0.05)

    waiting = steps.step(context, _evidence(context, 2, rules.Interval(-0.01, -0.02, 0.0)))
    assert waiting.action == "wait" and "not yet shown within the margin 0.01" in waiting.reason
    assert version_labels(context) == {"stable": 1, "canary": 2} and len(_recorded(context)) == 1  # waits: no record

    promoted = steps.step(context, _evidence(context, 2, rules.Interval(0.0, -0.008, 0.008)))
    assert promoted.action == "promote" and "not worse by more than the margin 0.01" in promoted.reason
    assert version_labels(context) == {"stable": 2}
    assert routing(context) == {"canary_weight": 0.0, "shadow_sample": 0.0}  # the entry stays: name-only -> stable
    moves = history(context)
    assert moves["stable"][-1]["from"] == 1 and moves["stable"][-1]["to"] == 2
    assert moves["stable"][-1]["reason"] == promoted.reason and moves["canary"][-1]["to"] is None
    start, promotion = _recorded(context)
    assert (start.action, start.version, promotion.action, promotion.version) == ("start", 2, "promote", 2)
    quality = next(m for m in promotion.measures if m["name"] == "quality")
    assert quality["low"] == -0.008 and quality["threshold"] == -0.01 and quality["reference"] == 1
    assert promotion.execution_id == promoted.recorded

    # Version 1 stays pinned as stable's rollback target, so `kfx rollback` is instant; the next step has nothing.
    from serving import labels

    config = labels.load(context.target.config_path).model_config_list.config[0]
    assert list(config.model_version_policy.specific.versions) == [1, 2]
    assert steps.step(context).action == "none"
    plan = labels.rollback(context.target.config_path, "toy", context.target.base_path, "stable")
    assert (plan.before, plan.after) == (2, 1)  # `kfx rollback` can still undo the automatic promotion


def _skew_report(context, version: str, over: bool) -> str:
    measurement = Measurement("trip_miles", "median_change", 2.4 if over else 0.1, 0.7, over)
    report = SkewReport("logs", [], "cfg.yaml", "2999-01-01T00:00:00+00:00",
                        [VersionSkew("toy", version, 40, 40, "stats", [measurement], [])], {})  # fmt: skip
    os.makedirs(context.monitoring_dir, exist_ok=True)
    path = os.path.join(context.monitoring_dir, f"skew-29990101T000000.{version}Z.json")
    with open(path, "w") as f:
        json.dump(report.to_dict(), f)
    return path


def test_a_skew_alarm_rolls_the_canary_back_weight_first_and_the_version_is_unloaded(context):
    steps.start(context, 3, "canary", 0.2)
    _skew_report(context, "2", over=True)  # another version's alarm is not the canary's
    assert steps.step(context).action == "wait"
    path = _skew_report(context, "3", over=True)
    outcome = steps.step(context)  # no server: errors, latency and quality wait, but the skew alarm decides
    assert outcome.action == "rollback"
    assert outcome.reason == f"skew: skew alarm for version 3: trip_miles median_change 2.400 > 0.7 ({path})"
    assert version_labels(context) == {"stable": 1} and routing(context)["canary_weight"] == 0.0
    from serving import labels

    config = labels.load(context.target.config_path).model_config_list.config[0]
    assert list(config.model_version_policy.specific.versions) == [1]
    assert history(context)["canary"][-1] == {**history(context)["canary"][-1], "from": 3, "to": None}
    assert [d.action for d in _recorded(context)] == ["start", "rollback"]
    # The canary label has no rollback target: `kfx rollback --label canary` refuses.
    with pytest.raises(labels.LabelError, match="nothing to roll back"):
        labels.rollback(context.target.config_path, "toy", context.target.base_path, "canary")


def test_skew_alarms_are_ignored_when_switched_off_and_reports_older_than_the_start(context):
    steps.start(context, 3, "canary", None)
    _skew_report(context, "3", over=True)
    assert steps.step(with_rules(context, skew_rollback=False)).action == "wait"
    for name in os.listdir(context.monitoring_dir):  # a report created before the rollout started
        path = os.path.join(context.monitoring_dir, name)
        with open(path) as f:
            report = json.load(f)
        with open(path, "w") as f:
            json.dump({**report, "created": "2000-01-01T00:00:00+00:00"}, f)
    assert steps.step(context).action == "wait"


def test_shadow_start_and_abort(context):
    outcome = steps.start(context, 2, "shadow", None)
    assert outcome.reason == "shadow at 100%"
    assert routing(context) == {"canary_weight": 0.0, "shadow_sample": 1.0}
    assert version_labels(context) == {"stable": 1, "shadow": 2}
    aborted = steps.abort(context, "wrong span")
    assert aborted.action == "rollback" and aborted.reason == "aborted by hand: wrong span"
    assert version_labels(context) == {"stable": 1} and routing(context)["shadow_sample"] == 0.0
    assert steps.abort(context, "").action == "none"


@pytest.mark.parametrize(
    "version, mode, expected",
    [
        (7, "canary", "version 7 of 'toy' is not pushed under .* \\(pushed: 1, 2, 3\\)"),
        (1, "canary", "version 1 is already stable"),
        (2, "blue", "unknown rollout mode 'blue'"),
    ],
)
def test_start_refuses_and_changes_nothing(context, version, mode, expected):
    before = open(context.target.config_path).read()
    with pytest.raises(actions.RolloutError, match=expected):
        steps.start(context, version, mode, None)
    assert open(context.target.config_path).read() == before and routing(context) is None


def test_start_refuses_a_second_rollout_and_a_model_without_stable(context):
    steps.start(context, 2, "canary", None)
    with pytest.raises(actions.RolloutError, match="version 2 is already in canary since .*kfx rollout abort"):
        steps.start(context, 3, "shadow", None)
    assert routing(context)["canary_weight"] == 0.05 and version_labels(context)["canary"] == 2
    os.remove(context.target.config_path)
    with pytest.raises(actions.RolloutError, match="no stable version to compare a canary with"):
        steps.start(context, 3, "canary", None)


def test_one_move_at_a_time_and_a_decision_on_a_changed_rollout_moves_nothing(context):
    import fcntl

    with open(os.path.join(context.target.serving_dir, actions.LOCK_FILE), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another kfx rollout in the middle of a move
        with pytest.raises(actions.RolloutError, match="another kfx rollout is moving the labels of 'toy' now"):
            steps.start(context, 2, "canary", None)
    assert routing(context) is None
    steps.start(context, 2, "canary", None)
    decided_on = actions.current(context.target)
    steps.abort(context, "meanwhile")
    steps.start(context, 3, "canary", None)
    with pytest.raises(actions.RolloutError, match="the canary of version 2 changed while this step decided"):
        actions.promote(context.target, decided_on, "stale")
    assert version_labels(context) == {"stable": 1, "canary": 3}
