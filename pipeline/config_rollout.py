"""The configuration file's `rollout` section: how `kfx rollout` puts a pushed version in canary or shadow, and the
rules `kfx rollout step` promotes or rolls it back by (rollout/rules.py; README "Rollout").

The quality rule is a non-inferiority test on the candidate's online AUC minus the stable version's, with the
interval `monitoring.online.measure` computes: promote once its lower bound is at least -margin, roll back once its
upper bound is below -margin, or once `max_labelled` outcomes still could not show the candidate is not worse.
"""

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from pipeline.config_types import Count, section

OnPush = Literal["none", "canary", "shadow"]
Fraction = Annotated[StrictFloat, Field(gt=0, le=1)]
Url = Annotated[StrictStr, Field(pattern=r"^https?://", description="an http:// or https:// URL")]


@section
class WebhookConfig:
    """Where decisions and alarms are posted (Slack-compatible JSON: `text` plus structured fields). The URL is a
    secret: it is read from the environment variable `url_env` (or `url`), and never printed or logged."""

    # Slack's incoming-webhook URL carries its own token, so it belongs in the environment, not in a committed file.
    url_env: Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = Field(
        "KFX_ROLLOUT_WEBHOOK_URL",
        description="the name of an environment variable holding the webhook URL (wins over url), e.g. SLACK_URL",
    )
    url: Url | None = Field(None, description="Webhook URL if url_env's variable is unset; keep it out of files.")
    # A receiver that takes longer than this is down for our purposes; cron jobs must not hang on it.
    timeout_seconds: StrictFloat = Field(5.0, gt=0, le=60, description="Per attempt.")
    # Two retries with backoff (1 s, 2 s) ride out a receiver's restart; more would only delay the cron job.
    retries: Annotated[StrictInt, Field(ge=0, le=5)] = Field(2, description="Retries after a failed post.")


@section
class RolloutConfig:
    """Canary and shadow rollouts of pushed versions, and when `kfx rollout step` promotes or rolls them back."""

    # none keeps today's behaviour: a push leaves every label where it is.
    on_push: OnPush = Field("none", description="What `kfx run` does with a version it pushed: none, canary, shadow.")
    # 5 %: enough traffic to gather outcomes within days on a busy model, small enough that a bad model hurts few.
    canary_weight: Fraction = Field(0.05, description="Share of name-only requests sent to the canary, in (0, 1].")
    # A shadow answers nobody, so copying every request costs only server CPU and gathers outcomes fastest.
    shadow_sample: Fraction = Field(1.0, description="Share of requests copied to the shadow, in (0, 1].")
    measure: Literal["auc"] = Field("auc", description="Online quality measure compared with the stable version.")
    # The offline gate's margin (evaluation.comparison.margin): online the same loss is tolerated.
    margin: StrictFloat = Field(0.01, ge=0, lt=1, description="Largest quality loss tolerated (candidate - stable).")
    # As evaluation.comparison.confidence: a two-sided 95 % interval, so each bound errs 2.5 % of the time.
    confidence: StrictFloat = Field(0.95, ge=0.5, lt=1, description="Level of the difference's interval.")
    # Below about 1,000 labelled rows an AUC's interval is wider than +-0.03 and its normal approximation shaky.
    min_labelled: Count = Field(1000, description="Labelled predictions per route before quality is judged.")
    # An equal model shows non-inferiority at margin 0.01 after about 5,000 (unpaired); 4x that without it means
    # the candidate is most likely worse by about the margin: stop spending traffic on it.
    max_labelled: Count = Field(20000, description="Labelled candidate rows after which not shown = roll back.")
    # 1 %: TF Serving errors are rare (bad requests aside); a model that fails more than 1 in 100 is broken.
    max_error_rate: StrictFloat = Field(0.01, ge=0, lt=1, description="Largest share of failed candidate requests.")
    # Generous: our server answers in milliseconds; latency buckets grow x1.8, so a tighter bound would flap.
    max_p99_ms: StrictFloat = Field(250.0, gt=0, description="Largest candidate p99 latency, in milliseconds.")
    # A p99 means nothing over fewer than 100 requests.
    min_requests: Count = Field(100, description="Candidate requests before its latency is judged.")
    # Skew past the `skew` thresholds means the candidate sees inputs unlike its training data: its quality is moot.
    skew_rollback: StrictBool = Field(True, description="Roll back on a skew alarm for the candidate.")
    grpc_address: StrictStr = Field("localhost:8500", min_length=1, description="Server reloaded on label moves.")
    rest_address: StrictStr = Field("localhost:8501", min_length=1, description="Server whose metrics are read.")
    webhook: WebhookConfig = WebhookConfig()

    def __post_init__(self) -> None:
        if self.max_labelled <= self.min_labelled:
            raise ValueError(
                f"max_labelled ({self.max_labelled}) must be above min_labelled ({self.min_labelled}); "
                "quality is judged between the two"
            )
