"""Every run of a workspace, newest first, read from ML Metadata: what `kfx runs` lists.

A run is a `pipeline_run` context: `kfx run` creates it before any node starts (store.record_run), with the git commit
and, since it was added, the configuration file's sha256. Its outcome is read from the states of its executions and
the artifacts they recorded: DataGate or DriftStop FAILED is a run blocked by its data, another FAILED node a failed
run, the Pusher's PushedModel says pushed or not and the Evaluator's blessing why not. A run whose nodes stopped
before the Pusher without failing was interrupted (Ctrl-C, kill, a crash: runners/local/recovery.py marks what it
left CANCELED at the next run), unless it is the run that holds the workspace now, which is running.

The key metrics are the one fact ML Metadata lacks: TFMA writes them to files under the ModelEvaluation artifact,
which only TFMA (and TensorFlow) reads. They come from the summary `kfx run` writes next to its log
(<workspace>/logs/run-*.summary.json); a run that wrote none shows none.
"""

import dataclasses
import datetime
import json
import time
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.atomic_pusher import properties as pusher_properties
from components.window_example_gen import window as window_executor
from monitoring import store as store_lib
from monitoring import summary as summary_lib

PUSHED, NOT_BLESSED, NOT_PUSHED = "pushed", "not blessed", "not pushed"
BLOCKED, FAILED, INTERRUPTED, RUNNING = "blocked", "failed", "interrupted", "running"
OUTCOMES = (PUSHED, NOT_BLESSED, NOT_PUSHED, BLOCKED, FAILED, INTERRUPTED, RUNNING)
# The nodes that stop a run on purpose, and what stopped it.
GATES = {"DataGate": "data", "DriftStop": "drift"}
# The summary's metrics shown for each run (TFMA's names).
KEY_METRICS = ("auc", "binary_accuracy")
_UNFINISHED = {"NEW", "RUNNING"}
NOT_RECORDED = "-"


@dataclasses.dataclass
class Run:
    """One run as `kfx runs` shows it; None where the run did not record the fact."""

    run_id: str
    pipeline: str
    started: str  # local time, to the second
    duration_seconds: float | None  # from the run's record to its last execution's end (until now, if running)
    outcome: str  # one of OUTCOMES
    detail: str  # why: the gate, the failed node, the version already serving the same model, ...
    spans: list[int]
    data_fingerprint: str | None  # WindowExampleGen's fingerprint of the files of every span it read
    config_sha256: str | None  # None: recorded before `kfx run` recorded it
    git_commit: str | None
    git_dirty: bool | None
    metrics: dict[str, float | None]  # KEY_METRICS from the run's summary; empty if it has none
    pushed_version: str | None
    states: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def list_runs(store: metadata_store.MetadataStore, logs_dir: str, in_progress: bool = False) -> list[Run]:
    """Every run in `store`, newest first; `in_progress`: a `kfx run` holds the workspace now (its newest run)."""
    pipelines = _pipeline_names(store)
    contexts = sorted(
        store.get_contexts_by_type(store_lib.RUN_CONTEXT), key=lambda c: (c.create_time_since_epoch, c.id)
    )
    metrics = summary_metrics(logs_dir)
    # A run not linked to its pipeline (store.record_run links every run `kfx run` makes) belongs to the only one.
    only = next(iter(set(pipelines.values()))) if len(set(pipelines.values())) == 1 else ""
    runs = []
    for index, context in enumerate(reversed(contexts)):
        pipeline = pipelines.get(context.id, only)
        runs.append(_run(store, context, pipeline, metrics.get(context.name, {}), in_progress and index == 0))
    return runs


def _pipeline_names(store: metadata_store.MetadataStore) -> dict[int, str]:
    """Run context id -> the name of its pipeline (its parent context)."""
    names = {}
    for pipeline in store.get_contexts_by_type(store_lib.PIPELINE_CONTEXT):
        for child in store.get_children_contexts_by_context(pipeline.id):
            names[child.id] = pipeline.name
    return names


def _run(
    store: metadata_store.MetadataStore,
    context: metadata_store_pb2.Context,
    pipeline: str,
    metrics: dict[str, float | None],
    live: bool,
) -> Run:
    record = store_lib.run_record(store, context, pipeline)
    executions = store.get_executions_by_context(context.id)
    ends = [e.last_update_time_since_epoch for e in executions]
    duration = (max(ends) - context.create_time_since_epoch) / 1000 if ends else None
    properties = store_lib.run_properties(store, context.name)
    examples = record.output("WindowExampleGen", "examples")
    window = store_lib.custom(examples, window_executor.WINDOW_PROPERTY) or ""
    pushed = record.output("Pusher", "pushed_model")
    blessing = record.output("Evaluator", "blessing")
    outcome, detail = decide_outcome(
        record.states,
        pushed=bool(store_lib.custom(pushed, "pushed")),
        pushed_version=store_lib.custom(pushed, "pushed_version"),
        identical_to=store_lib.custom(pushed, pusher_properties.IDENTICAL_VERSION_PROPERTY),
        blessed=None if blessing is None else bool(store_lib.custom(blessing, "blessed")),
        live=live,
    )
    if outcome == RUNNING:
        duration = time.time() - context.create_time_since_epoch / 1000
    commit = properties.get(store_lib.GIT_COMMIT)
    return Run(
        run_id=context.name,
        pipeline=pipeline,
        started=_local_time(context.create_time_since_epoch),
        duration_seconds=duration,
        outcome=outcome,
        detail=detail,
        spans=[int(span) for span in window.split(",") if span],
        data_fingerprint=store_lib.custom(examples, window_executor.FINGERPRINT_PROPERTY),
        config_sha256=properties.get(store_lib.CONFIG_SHA256),
        git_commit=None if commit in (None, "unknown") else commit,
        git_dirty={"true": True, "false": False}.get(properties.get(store_lib.GIT_DIRTY, "")),
        metrics=metrics,
        pushed_version=store_lib.custom(pushed, "pushed_version") if outcome == PUSHED else None,
        states=record.states,
    )


def decide_outcome(
    states: dict[str, str],
    *,
    pushed: bool,
    pushed_version: str | None,
    identical_to: int | None,
    blessed: bool | None,
    live: bool,
) -> tuple[str, str]:
    """(outcome, why) of a run from its node states (MLMD's names) and what its Evaluator and Pusher recorded."""
    failed = [node for node, state in states.items() if state == "FAILED"]
    gates = [node for node in failed if node in GATES]
    if gates:
        return BLOCKED, f"{GATES[gates[0]]}: {gates[0]} stopped the run"
    if failed:
        return FAILED, f"{', '.join(failed)} failed (see the run's log)"
    unfinished = [node for node, state in states.items() if state in _UNFINISHED]
    canceled = [node for node, state in states.items() if state == "CANCELED"]
    pusher = states.get("Pusher")
    if live and (unfinished or pusher is None):
        return RUNNING, f"{', '.join(unfinished)} running" if unfinished else "between nodes"
    if unfinished or canceled:
        return INTERRUPTED, f"ended during {', '.join(unfinished + canceled)}"
    if pusher is None:
        last = list(states)[-1] if states else None
        return INTERRUPTED, f"ended after {last}, before the Pusher" if last else "ended before its first node"
    if pushed and pusher == "CACHED":  # nothing changed since a run that pushed: its push is not this run's
        return NOT_PUSHED, f"every step reused from an earlier run, which pushed version {pushed_version}"
    if pushed:
        return PUSHED, f"version {pushed_version}"
    if identical_to is not None:
        return NOT_PUSHED, f"version {identical_to} already holds the same model"
    if blessed is False:
        return NOT_BLESSED, "the served model stays"
    return NOT_PUSHED, "the Pusher pushed nothing"


def summary_metrics(logs_dir: str) -> dict[str, dict[str, float | None]]:
    """Run id -> its KEY_METRICS, from the summaries `kfx run` wrote (ML Metadata does not hold the metrics)."""
    found: dict[str, dict[str, float | None]] = {}
    for path in summary_lib.summary_files(logs_dir):
        try:
            with open(path) as f:
                summary = json.load(f)
            run_id, metrics = summary["run_id"], summary.get("metrics") or {}
        except (OSError, ValueError, KeyError, TypeError):  # a summary cut short (a full disk): the run shows none
            continue
        found[run_id] = {name: metrics[name] for name in KEY_METRICS if name in metrics}
    return found


def _local_time(epoch_ms: int) -> str:
    return datetime.datetime.fromtimestamp(epoch_ms / 1000).isoformat(" ", "seconds")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NOT_RECORDED
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def metric_text(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else NOT_RECORDED


def _spans(spans: list[int]) -> str:
    if not spans:
        return NOT_RECORDED
    return str(spans[0]) if len(spans) == 1 else f"{spans[0]}-{spans[-1]}"


def format_runs(runs: list[Run]) -> str:
    """The runs as a table, newest first, then each run's detail; "-" where a run did not record the fact."""
    if not runs:
        return "no runs recorded in this workspace yet: run `kfx run` first"
    header = ("RUN", "STARTED", "TOOK", "OUTCOME", "SPANS", "DATA", "CONFIG", "COMMIT", "AUC", "ACCURACY", "PUSHED")
    rows = [header]
    for run in runs:
        outcome = f"{run.outcome} ({run.detail.split(':')[0]})" if run.outcome == BLOCKED else run.outcome
        commit = (run.git_commit[:10] + ("+" if run.git_dirty else "")) if run.git_commit else NOT_RECORDED
        rows.append(
            (
                run.run_id,
                run.started,
                _duration(run.duration_seconds),
                outcome,
                _spans(run.spans),
                (run.data_fingerprint or NOT_RECORDED)[:10],
                (run.config_sha256 or NOT_RECORDED)[:10],
                commit,
                metric_text(run.metrics.get("auc")),
                metric_text(run.metrics.get("binary_accuracy")),
                run.pushed_version or NOT_RECORDED,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append("")
    lines += [f"{run.run_id}: {run.outcome}: {run.detail}" for run in runs]
    lines.append("(data and config: the first 10 hex digits of their fingerprints; a commit ending in +: uncommitted "
                 "changes; metrics from the run's summary in <workspace>/logs)")  # fmt: skip
    return "\n".join(lines)
