"""The `rollout` section: defaults that work with no section at all, and mistakes in one line with the fix (the
sweeps of test_config.py cover every key's type and range)."""

import pytest

from pipeline import config as config_lib


def _error(raw) -> str:
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.parse(raw, "cfg.yaml")
    return str(info.value)


def test_without_the_section_the_defaults_keep_todays_behaviour(raw):
    del raw["rollout"]
    rollout = config_lib.parse(raw, "cfg.yaml").rollout
    assert rollout.on_push == "none" and rollout.canary_weight == 0.05 and rollout.margin == 0.01
    assert (rollout.min_labelled, rollout.max_labelled, rollout.max_error_rate, rollout.max_p99_ms) == (
        1000, 20000, 0.01, 250.0)  # fmt: skip
    assert rollout.webhook.url_env == "KFX_ROLLOUT_WEBHOOK_URL" and rollout.webhook.url is None


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"on_push": "canery"}, "rollout.on_push must be one of 'none', 'canary', 'shadow', got 'canery'; "
                                "did you mean 'canary'?"),
        ({"canary_weight": 5}, "rollout.canary_weight must be in (0, 1], got 5"),
        ({"min_labelled": 30000}, "rollout: max_labelled (20000) must be above min_labelled (30000)"),
        ({"measure": "accuracy"}, "rollout.measure must be one of 'auc'"),
        ({"webhook": {"url": "hooks.slack.com/x"}}, "rollout.webhook.url 'hooks.slack.com/x' is invalid; use an "
                                                    "http:// or https:// URL"),
        ({"webhook": {"url_env": "SLACK URL"}}, "rollout.webhook.url_env 'SLACK URL' is invalid; use the name of an "
                                                "environment variable"),
        ({"webhook": {"retries": 9}}, "rollout.webhook.retries must be in [0, 5], got 9"),
        ({"skew_rollback": "yes"}, "rollout.skew_rollback must be"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_the_value_and_the_fix(raw, section, expected):
    raw["rollout"] = section
    message = _error(raw)
    assert message.startswith("cfg.yaml: ") and expected in message, message
