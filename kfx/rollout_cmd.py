"""`kfx rollout start | status | step | abort`: canary and shadow rollouts with automatic promotion or rollback
(rollout/). The rules and defaults are the configuration's `rollout` section."""

import argparse
import json
import logging
import math
import os
import sys

from kfx import options, serve_cmd
from pipeline import config as config_lib


def share(text: str) -> float:
    """argparse type: '5%' or 0.05, in (0, 1]."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share such as 5% or 0.05, got '{text}'") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0%, 100%], got '{text}'")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx rollout` and its actions."""
    rollout = commands.add_parser(
        "rollout",
        help="canary or shadow a pushed version, then promote or roll it back by the configured rules",
        description="start puts a pushed version in canary (a share of name-only requests) or shadow (a copy of "
        "requests, never answered); status shows traffic, errors, latency, skew and online quality with their "
        "intervals; step (for cron) promotes, rolls back or waits and says why; abort rolls back by hand. Every "
        "decision is recorded in ML Metadata (kfx lineage) and the label history, and posted to the webhook.",
    )
    actions = rollout.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="put a pushed version in canary or shadow")
    start.add_argument("version", type=_version, help="pushed version (its folder name), or 'latest'")
    mode = start.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--canary",
        nargs="?",
        const=0.0,
        type=share,
        metavar="SHARE",
        help="share of name-only requests it answers (default rollout.canary_weight, e.g. 5%%)",
    )
    mode.add_argument("--shadow", action="store_true", help="copy requests to it; it answers nobody")  # fmt: skip
    start.add_argument("--sample", type=share, help="with --shadow: share of requests copied (rollout.shadow_sample)")
    start.add_argument("--reason", default="", help="why, recorded with the decision")
    status = actions.add_parser("status", help="traffic, errors, latency, skew and quality, and what step would do")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--alert", action="store_true", help="post a rollback verdict to the webhook as an alarm")
    step = actions.add_parser("step", help="promote, roll back or wait, by the rules (safe from cron)")
    step.add_argument("--json", action="store_true", help="print JSON")
    abort = actions.add_parser("abort", help="roll the rollout in progress back by hand")
    abort.add_argument("--reason", default="", help="why, recorded with the decision")
    for sub in (start, status, step, abort):
        _common_flags(sub)
        sub.set_defaults(func=run)


def _version(text: str) -> str:
    if text != "latest" and not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a version number or 'latest', got '{text}'")
    return text


def _resolve(version: str, target) -> int:
    """A version number, or the newest complete version under the model's folder for 'latest'."""
    from rollout import actions
    from serving import versions

    if version != "latest":
        return int(version)
    found = versions.latest_complete_version(target.base_path)
    if found is None:
        raise actions.RolloutError(f"no pushed version under {target.base_path}: run `kfx run` first")
    return found[0]


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default serving.model_name of the configuration)")
    parser.add_argument("--grpc-address", help="server reloaded on label moves (default rollout.grpc_address)")
    parser.add_argument("--rest-address", help="server whose metrics are read (default rollout.rest_address)")
    parser.add_argument("--logs", help="the server's request logs (default <workspace>/request_logs/<model>)")
    parser.add_argument("--outcomes", help="feedback store (default <workspace>/feedback/outcomes.sqlite)")
    parser.add_argument("--monitoring-dir", help="kfx monitor's reports (default <workspace>/monitoring)")
    serve_cmd.add_project_flags(parser)


def context(args: argparse.Namespace, config: config_lib.PipelineConfig):
    """The rollout's context from the flags and the configuration."""
    from rollout import actions, steps

    workspace = options.workspace(args)
    model = args.model or config.serving.model_name
    rules = config.rollout
    target = actions.Target(workspace.serving_dir, model, args.grpc_address or rules.grpc_address)
    return steps.Context(
        target=target,
        rules=rules,
        metadata=workspace.metadata,
        monitoring_dir=args.monitoring_dir or os.path.join(workspace.root, "monitoring"),
        logs=args.logs or os.path.join(workspace.root, "request_logs", model),
        outcomes=args.outcomes or os.path.join(workspace.root, "feedback", "outcomes.sqlite"),
        rest_address=args.rest_address or rules.rest_address,
    )


def after_push(config: config_lib.PipelineConfig, workspace, version: str | None, console) -> int:
    """`kfx run`'s switch (rollout.on_push): a version the run pushed starts a canary or shadow rollout, or, for a
    model with no stable version yet, becomes stable. Exit 1 if the move failed, else 0 (a rollout already in
    progress leaves the new version alone, with a note)."""
    mode = config.rollout.on_push
    if mode == "none" or version is None:
        return 0
    logging.getLogger("absl").setLevel(logging.WARNING)  # the run left it at INFO: ML Metadata's connection notice
    from rollout import actions, steps

    model = config.serving.model_name
    target = actions.Target(workspace.serving_dir, model, config.rollout.grpc_address)
    logs = os.path.join(workspace.root, "request_logs", model)
    rollout_context = steps.Context(target, config.rollout, workspace.metadata, "", logs, "", "")
    try:
        if "stable" not in actions.labels_of(target):
            outcome = steps.first_stable(rollout_context, int(version))
        else:
            outcome = steps.start(rollout_context, int(version), mode, None, "pushed by kfx run (rollout.on_push)")
    except actions.MoveFailed as error:
        console.write(f"rollout.on_push: {error}\n")
        return options.EXIT_FAILED
    except actions.RolloutError as error:
        console.write(f"rollout.on_push: version {version} left alone: {error}\n")
        return 0
    console.write(format_outcome(outcome, rollout_context) + "\n")
    for note in outcome.notes:
        console.write(f"{note}\n")
    for warning in outcome.warnings:
        console.write(f"warning: {warning}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done (a wait and "nothing in rollout" included), 1 when a move failed, 2 on bad input."""
    options.quiet_tensorflow()
    from rollout import actions, glue, steps

    try:
        rollout_context = context(args, config_lib.load(args.config))
        if args.action == "status":
            found = steps.status(rollout_context, alert=args.alert)
            print(_json(found) if args.json else format_status(found))
            for warning in found.get("warnings", []):
                print(f"warning: {warning}", file=sys.stderr)
            return 0
        if args.action == "start":
            mode = "shadow" if args.shadow else "canary"
            amount = args.sample if args.shadow else (args.canary or None)
            version = _resolve(args.version, rollout_context.target)
            outcome = steps.start(rollout_context, version, mode, amount, args.reason)
        elif args.action == "step":
            outcome = steps.step(rollout_context)
        else:
            outcome = steps.abort(rollout_context, args.reason)
    except actions.MoveFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_FAILED
    except (config_lib.ConfigError, actions.RolloutError, glue.RoutingFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    if getattr(args, "json", False):
        print(_json(_outcome_dict(outcome)))
    else:
        print(format_outcome(outcome, rollout_context))
        for note in outcome.notes:
            print(note)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _json(found) -> str:
    """Strict JSON: a p99 above the histogram's last bucket (infinite) becomes null, which every parser reads."""

    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: finite(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(item) for item in value]
        return value

    return json.dumps(finite(found), indent=2, default=str, allow_nan=False)


def _outcome_dict(outcome) -> dict:
    import dataclasses

    return dataclasses.asdict(outcome)


def format_outcome(outcome, rollout_context) -> str:
    """What was done and why, with every check's numbers."""
    target = rollout_context.target
    if outcome.action == "none":
        return f"{target.model}: {outcome.reason}; nothing to do"
    if outcome.action == "wait":
        lines = [f"{target.model}: wait: version {outcome.version} stays in rollout, nothing changed"]
    else:
        lines = [f"{target.model}: {outcome.action} version {outcome.version}", f"  why: {outcome.reason}"]
    lines += [f"  {check.name:<8} {check.status:<8} {check.reason}" for check in outcome.checks]
    if outcome.action != "wait":
        server = f"the server at {target.grpc_address} reloaded it" if outcome.live else "no server answered"
        lines.append(f"  wrote {target.config_path} and {target.routing_path}; {server}")
        if outcome.recorded is not None:
            lines.append(f"  recorded in ML Metadata (execution {outcome.recorded}) and the label history")
    return "\n".join(lines)


def format_status(found: dict) -> str:
    """The rollout, the evidence per version, and what a step would do."""
    lines = [f"{found['model']}: labels {found['labels'] or '(none)'}; routing {found['routing'] or '(none)'}"]
    rollout = found["rollout"]
    if rollout is None:
        return "\n".join(lines + ["  nothing in rollout"])
    lines.append(f"  {rollout['mode']}: version {rollout['candidate']} at {rollout['share']:.0%} since "
                 f"{rollout['started'] or '(not recorded)'}; stable: version {rollout['stable']}")  # fmt: skip
    evidence = found["evidence"]
    for which in ("candidate_traffic", "stable_traffic"):
        traffic = evidence[which]
        if traffic:
            p99 = "n/a" if traffic["p99_ms"] is None else f"<= {traffic['p99_ms']:g} ms"
            lines.append(f"  {traffic['route']:<7} version {traffic['version']}: {traffic['requests']} requests, "
                         f"{traffic['errors']} errors, p99 {p99}")  # fmt: skip
    quality = evidence["quality"]
    if quality:
        for side in ("candidate", "stable"):
            value = quality[side]
            lines.append(f"  {side:<9} {quality['measure']} {_interval(value)}, "
                         f"{quality[side + '_labelled']} labelled")  # fmt: skip
        lines.append(
            f"  difference {_interval(quality['difference'])} ({'paired' if quality['paired'] else 'unpaired'})"
        )
    decision = found["decision"]
    lines.append(f"  step would: {decision['action']}")
    lines += [f"    {c['name']:<8} {c['status']:<8} {c['reason']}" for c in decision["checks"]]
    return "\n".join(lines)


def _interval(value: dict) -> str:
    if value["value"] is None:
        return "n/a"
    if value["low"] is None:
        return f"{value['value']:.4f}"
    return f"{value['value']:.4f} [{value['low']:.4f}, {value['high']:.4f}]"
