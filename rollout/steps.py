"""`kfx rollout start / status / step / abort`: gather the evidence, decide by the rules, move the labels, then
record the decision in ML Metadata and the label history and post it to the webhook.

A step is idempotent and safe from cron: with nothing in rollout it says so; a wait changes nothing and is not
recorded; a receiver that is down is a warning. Only a move that fails (a version that does not load) fails a step.
"""

import dataclasses
import datetime
from typing import Any

from monitoring import decisions as decisions_lib
from monitoring import lineage, store
from pipeline.config_rollout import RolloutConfig
from rollout import actions, alerts, evidence, glue, rules


@dataclasses.dataclass(frozen=True)
class Context:
    """Where a rollout's inputs and records live, and its rules."""

    target: actions.Target
    rules: RolloutConfig
    metadata: str  # the workspace's ML Metadata target (written: decisions), monitoring/connection.py
    monitoring_dir: str  # kfx monitor's skew reports
    logs: str  # the server's request logs (online quality)
    outcomes: str  # the feedback store (online quality)
    rest_address: str  # the server's Prometheus page


@dataclasses.dataclass
class Outcome:
    """What a command did: the action, why, the numbers, and warnings (a webhook down, a record not written)."""

    action: str
    version: int | None
    reason: str
    checks: list[rules.Check] = dataclasses.field(default_factory=list)
    live: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)
    recorded: int | None = None  # the ML Metadata execution id
    notes: list[str] = dataclasses.field(default_factory=list)  # what else the command did


def gather(context: Context, rollout: actions.Rollout) -> rules.Evidence:
    """The evidence on the candidate and stable since the rollout started."""
    notes: dict[str, str] = {}
    traffic: dict[tuple[int, str], rules.Traffic] = {}
    try:
        traffic = evidence.route_traffic(evidence.read_metrics(context.rest_address), rollout.model)
        candidate_traffic = traffic.get(
            (rollout.candidate, rollout.mode), rules.Traffic(rollout.mode, rollout.candidate, 0, 0, None)
        )
    except evidence.MetricsUnavailable as error:
        notes["traffic"], candidate_traffic = str(error), None
    stable_traffic = traffic.get((rollout.stable, "stable")) if rollout.stable is not None else None
    skew, notes["skew"] = evidence.skew_finding(
        context.monitoring_dir, rollout.model, rollout.candidate, rollout.started
    )
    quality, notes["quality"] = (None, "no stable version") if rollout.stable is None else glue.online_quality(
        context.logs, context.outcomes, rollout.model, rollout.mode, rollout.candidate, rollout.stable,
        since=_epoch(rollout.started), confidence=context.rules.confidence,
    )  # fmt: skip
    return rules.Evidence(rollout.model, rollout.mode, rollout.candidate, rollout.stable, candidate_traffic,
                          stable_traffic, quality, skew, notes)  # fmt: skip


def _epoch(iso: str) -> float | None:
    return datetime.datetime.fromisoformat(iso).timestamp() if iso else None


def status(context: Context, alert: bool = False) -> dict[str, Any]:
    """The rollout in progress (or none), its evidence, and what a step would decide now and why; with `alert`, a
    decision to roll back is posted to the webhook as an alarm (a warning under "warnings" if it cannot be)."""
    rollout = actions.current(context.target)
    target = context.target
    found: dict[str, Any] = {
        "model": target.model,
        "labels": actions.labels_of(target),
        "routing": glue.read_routes(target.routing_path).get(target.model),
    }
    if rollout is None:
        return {**found, "rollout": None}
    gathered = gather(context, rollout)
    decision = rules.decide(gathered, context.rules)
    warnings = []
    if alert and decision.action == "rollback":
        body = alerts.message("alarm", rollout.model, rollout.candidate, "alarm", decision.reason,
                              measures=decision.measures(), time=decisions_lib.now())  # fmt: skip
        warnings = [w for w in [alerts.send(context.rules.webhook, body)] if w]
    return {**found, "rollout": dataclasses.asdict(rollout), "evidence": dataclasses.asdict(gathered),
            "decision": {"action": decision.action, "reason": decision.reason, "checks": decision.measures()},
            "warnings": warnings}  # fmt: skip


def start(context: Context, version: int, mode: str, share: float | None = None, why: str = "") -> Outcome:
    """Puts the version in canary or shadow (the configured share unless given), recorded and alerted."""
    share = (
        share
        if share is not None
        else (context.rules.canary_weight if mode == "canary" else context.rules.shadow_sample)
    )
    reason = f"{mode} at {share:.0%}" + (f": {why}" if why else "")
    logging = _logs_requests(context)
    live = actions.start(context.target, version, mode, share, reason, context.logs)
    outcome = Outcome("start", version, reason, live=live)
    if context.logs and not logging:
        outcome.notes.append(
            f"request logging turned on (every request, {context.logs}-*.tfrecord): online quality joins the "
            "logged predictions with the outcomes `kfx feedback` stores"
        )
    return _finish(context, outcome, [])


def _logs_requests(context: Context) -> bool:
    """Whether the model config already logs the model's requests (start turns logging on if not)."""
    from serving import labels

    path = context.target.config_path
    try:
        return labels.model_config(labels.load(path), context.target.model).HasField("logging_config")
    except labels.LabelError:
        return False


def first_stable(context: Context, version: int) -> Outcome:
    """The model's first version goes straight to stable: there is nothing to compare a canary with."""
    reason = "first pushed version: no stable version to compare a rollout with"
    live = actions.first_stable(context.target, version, reason)
    return _finish(context, Outcome("promote", version, reason, live=live), [])


def step(context: Context, gathered: rules.Evidence | None = None) -> Outcome:
    """Decides (on `gathered`, else on what `gather` finds now) and acts once; with nothing in rollout, says so."""
    rollout = actions.current(context.target)
    if rollout is None:
        return Outcome("none", None, f"nothing in rollout for '{context.target.model}' (no canary or shadow label)")
    decision = rules.decide(gathered or gather(context, rollout), context.rules)
    outcome = Outcome(decision.action, rollout.candidate, decision.reason, decision.checks)
    if decision.action == "wait":
        return outcome
    mover = actions.promote if decision.action == "promote" else actions.roll_back
    outcome.live = mover(context.target, rollout, decision.reason)
    return _finish(context, outcome, decision.measures())


def abort(context: Context, why: str) -> Outcome:
    """Rolls the rollout in progress back by hand."""
    rollout = actions.current(context.target)
    if rollout is None:
        return Outcome("none", None, f"nothing in rollout for '{context.target.model}' (no canary or shadow label)")
    reason = f"aborted by hand: {why}" if why else "aborted by hand"
    live = actions.roll_back(context.target, rollout, reason)
    return _finish(context, Outcome("rollback", rollout.candidate, reason, live=live), [])


def _finish(context: Context, outcome: Outcome, measures: list[dict[str, Any]]) -> Outcome:
    """Records the decision in ML Metadata and posts it; either failing is a warning, the move is done."""
    decision = decisions_lib.RolloutDecision(context.target.model, outcome.version, outcome.action, outcome.reason,
                                             measures, decisions_lib.now())  # fmt: skip
    try:
        outcome.recorded = record(context.metadata, decision)
    except Exception as error:  # noqa: BLE001 - the labels already moved: a record that fails must not hide that
        outcome.warnings.append(f"the decision was not recorded in ML Metadata at {context.metadata}: {error}")
    body = alerts.message("decision", decision.model, decision.version, decision.action, decision.reason,
                          measures=measures, time=decision.time)  # fmt: skip
    warning = alerts.send(context.rules.webhook, body)
    if warning:
        outcome.warnings.append(warning)
    return outcome


def record(metadata: str, decision: decisions_lib.RolloutDecision) -> int:
    """Writes the decision, linked to the version's PushedModel artifact when ML Metadata has one."""
    writable = decisions_lib.open_writable(metadata)
    pushed = lineage.pushed_versions(writable).get(str(decision.version))
    return decisions_lib.record(writable, decision, pushed)


def history(metadata: str, model: str) -> list[decisions_lib.RolloutDecision]:
    """Every recorded decision about the model, oldest first."""
    return decisions_lib.of_model(store.connect(metadata), model)
