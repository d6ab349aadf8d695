"""Decisions and alarms posted to a real HTTP receiver on loopback; a receiver that fails or is down is a warning that
never names the URL and never fails the decision."""

# ruff: noqa: F811 - the fixtures come from rollout_env (a conftest.py here would shadow tests/conftest.py)

import time

import pytest
from rollout_env import Receiver, context, receiver, toy_versions, version_labels  # noqa: F401
from server_process import free_port

from pipeline.config_rollout import WebhookConfig
from rollout import alerts, steps

ENV = "KFX_ROLLOUT_WEBHOOK_URL"


def test_each_decision_is_posted_with_slack_text_and_fields(context, receiver, monkeypatch):
    monkeypatch.setenv(ENV, receiver.url)
    started = steps.start(context, 2, "canary", None, "span 5")
    aborted = steps.abort(context, "bad vocabulary")
    assert not started.warnings and not aborted.warnings
    first, second = receiver.bodies
    assert first["text"] == "[kfx rollout] toy: started a rollout of version 2: canary at 5%: span 5"
    assert (first["event"], first["model"], first["version"], first["action"]) == ("decision", "toy", 2, "start")
    assert second["text"] == "[kfx rollout] toy: rolled back version 2: aborted by hand: bad vocabulary"
    assert second["action"] == "rollback" and second["time"]
    assert receiver.paths == ["/services/T000/B000/secret-token"] * 2


def test_a_rollback_verdict_in_status_is_posted_as_an_alarm(context, receiver, monkeypatch):
    import json
    import os

    steps.start(context, 2, "canary", None)
    os.makedirs(context.monitoring_dir)
    report = {"created": "2999-01-01T00:00:00+00:00", "versions": [{"model": "toy", "version": "2", "skew": [
        {"feature": "fare", "measure": "jensen_shannon", "value": 0.6, "threshold": 0.3, "over": True}]}]}  # fmt: skip
    with open(os.path.join(context.monitoring_dir, "skew-29990101T000000Z.json"), "w") as f:
        json.dump(report, f)
    monkeypatch.setenv(ENV, receiver.url)
    assert steps.status(context)["decision"]["action"] == "rollback" and receiver.bodies == []  # only when asked
    found = steps.status(context, alert=True)
    assert found["warnings"] == [] and version_labels(context) == {"stable": 1, "canary": 2}  # status moves nothing
    (alarm,) = receiver.bodies
    assert alarm["event"] == "alarm" and alarm["text"].startswith("[kfx rollout] toy: alarm for version 2: skew: ")


def test_a_failing_receiver_is_retried_with_backoff():
    flaky = Receiver(failures=2)
    slept = []
    try:
        assert alerts.post(flaky.url, {"text": "hi"}, "$X", timeout=2, retries=2, sleep=slept.append) is None
    finally:
        flaky.close()
    assert flaky.bodies == [{"text": "hi"}] and len(flaky.paths) == 3 and slept == [1.0, 2.0]


def test_a_down_receiver_is_a_warning_without_the_url_and_the_decision_stands(context, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/secret-token"
    monkeypatch.setenv(ENV, url)
    began = time.monotonic()
    outcome = steps.start(context, 2, "canary", None)
    assert time.monotonic() - began < 10  # one retry after 1 s, each attempt refused at once
    assert version_labels(context)["canary"] == 2 and outcome.recorded is not None
    (warning,) = outcome.warnings
    assert warning.startswith(f"the webhook (${ENV}) did not take the alert after 2 attempt(s): ")
    assert "secret-token" not in warning and "127.0.0.1" not in warning


def test_the_url_comes_from_the_environment_first_and_is_redacted_from_errors():
    config = WebhookConfig(url="https://hooks.example.com/services/T1/B1/tok")
    assert alerts.webhook(config, {ENV: "https://env.example.com/x"}) == ("https://env.example.com/x", f"${ENV}")
    assert alerts.webhook(config, {}) == ("https://hooks.example.com/services/T1/B1/tok", "rollout.webhook.url")
    assert alerts.webhook(WebhookConfig(), {}) == (None, f"${ENV} (not set)")
    message = "cannot open https://hooks.example.com/services/T1/B1/tok and /services/T1/B1/tok?x=1"
    redacted = alerts.redact(message, "https://hooks.example.com/services/T1/B1/tok")
    assert "tok" not in redacted and redacted.count("<redacted>") == 2


def test_no_webhook_configured_posts_nothing(context):
    assert steps.start(context, 2, "canary", None).warnings == []


@pytest.mark.parametrize("retries", [0, 1])
def test_a_receiver_that_answers_500_is_given_up_after_the_retries(retries):
    broken = Receiver(failures=10)
    try:
        warning = alerts.post(broken.url, {"text": "x"}, "$X", timeout=2, retries=retries, sleep=lambda s: None)
    finally:
        broken.close()
    expected = f"the webhook ($X) did not take the alert after {retries + 1} attempt(s): HTTP 500 Internal Server Error"
    assert warning == expected
    assert len(broken.paths) == retries + 1


def test_kfx_monitor_posts_one_alarm_per_skewed_version(receiver):
    from monitoring.skew import SkewReport, VersionSkew
    from monitoring.skew_compare import Measurement

    skewed = VersionSkew("chicago_taxi", "2", 400, 400, "stats", [Measurement("fare", "median_change", 2.5, 0.7, True),
                         Measurement("company", "infinity_norm", 0.1, 0.2, False)], [])  # fmt: skip
    calm = VersionSkew(
        "chicago_taxi", "1", 900, 900, "stats", [Measurement("fare", "median_change", 0.1, 0.7, False)], []
    )
    report = SkewReport("logs", [], "cfg.yaml", "2026-12-05T00:00:00+00:00", [calm, skewed], {})
    (body,) = alerts.skew_alarms(report, "/ws/monitoring/skew-1.json")
    assert (
        body["text"]
        == "[kfx rollout] chicago_taxi: alarm for version 2: skew past a threshold: fare median_change 2.5000 > 0.7"
    )
    assert body["report"] == "/ws/monitoring/skew-1.json" and body["requests"] == 400
    assert alerts.send(WebhookConfig(url=receiver.url), body, environ={}) is None and receiver.bodies == [body]
