"""A local run: validates the inputs, runs the pipeline with LocalDagRunner and writes what happened to the console."""

import dataclasses
import datetime
import json
import os
from typing import TextIO

from components.drift_gate import ledger
from monitoring import connection
from monitoring import summary as summary_lib
from pipeline import config as config_lib
from pipeline import data as data_lib
from pipeline import schema_columns
from runners import cpus, output
from runners.local import interrupts, lock, progress, recovery, rerun, storage, tuning
from runners.local.workspace import Workspace

# The project's root, whose git commit each run records.
_PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RunFailed(RuntimeError):
    """The pipeline started but a component failed; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What `kfx run` was asked: the configuration file, the workspace, and what overrides the configuration."""

    config_path: str
    workspace: Workspace
    data_path: str | None = None
    span: int | None = None
    train_steps: int | None = None
    enable_cache: bool = True
    direct_num_workers: int | None = None  # None: cpus.default_workers of the usable CPUs
    verbose: bool = False
    accept_drift: str | None = None  # accept the newest span's drift, with this note ("": none); None: do not


def run(options: RunOptions, console: TextIO) -> dict:
    """Runs the pipeline once; returns the run summary. Raises ConfigError/DataError before any work starts."""
    config, source, key = _inputs(options)
    workspace = options.workspace
    serving_model_dir = workspace.serving_model_dir(config.serving.model_name)
    held, reused = None, _reusable(options, config.pipeline_name, key)
    if reused:
        held = _take_workspace(workspace)
        if not held.stale:  # a run that died holding the workspace may have left work to recover: the normal path
            with held:
                return _answer_rerun(reused, config, source, workspace, console)
    checked = data_lib.check(source, config)
    if config.data.schema:  # a schema written for other columns would stop the run at DataGate, minutes later
        mismatch = schema_columns.problem(config.data.schema, checked.header)
        if mismatch:
            raise data_lib.DataError(f"{config.path}: {mismatch}")

    newest_span = source.window.newest if source.has_spans else None
    tuning_decision = tuning.decide(config, workspace.metadata, newest_span)
    held = held or _take_workspace(workspace)  # before the header: a busy or unwritable workspace is refused at once
    log_path = _new_log_path(workspace)
    usable_cpus = cpus.usable()
    workers = options.direct_num_workers or cpus.default_workers(usable_cpus)

    console.write(
        f"kfx run: pipeline '{config.pipeline_name}'\n"
        f"  data:      {source.data_path} ({_describe_window(source)}; {len(source.files)} file(s), "
        f"{checked.describe()})\n"
        f"             {checked.dialect.describe()}\n"
        f"  label:     {checked.label_counts}\n"
        f"{_describe_drift_plan(source)}"
        f"{_describe_tuning(tuning_decision)}"
        f"  workspace: artifacts {workspace.pipeline_root}\n"
        f"             metadata  {workspace.metadata}\n"
        f"             serving   {serving_model_dir}\n"
        f"  log:       {log_path}\n"
        f"  beam:      {_describe_workers(workers, usable_cpus)}\n"
        "Starting (importing TensorFlow and TFX takes about 10 seconds)...\n"
    )
    console.flush()

    with held:
        with output.output_to_log(log_path, options.verbose) as run_console:
            _recover(held, workspace, run_console)
            # The newest span is pinned as resolved here, so `kfx run` and `kfx run --span <newest>` are the same run
            # (and reuse each other's work), and the run reads exactly the spans printed above.
            span = source.window.newest if source.has_spans else None
            run_id = datetime.datetime.now().isoformat()  # the form of LocalDagRunner's own run ids
            failure = _run_pipeline(
                config,
                source,
                span,
                source.drift_plan,
                workspace,
                serving_model_dir,
                options.enable_cache,
                cpus.direct_runner_args(workers),
                run_id,
                run_console,
                tune=tuning_decision is None or tuning_decision.tune,
                recorded_key=key,
            )
            summary = _summarize(workspace.metadata, config.pipeline_name, run_id)
            report_path = _record(summary, workspace, config.pipeline_name, log_path) if summary else None
    report_line = f"\nReport: {report_path}" if report_path else ""
    if failure:
        raise RunFailed(f"{failure}\nFull log: {log_path}{report_line}")
    console.write(summary_lib.format_summary(summary, list(config.evaluation.slices)) + report_line + "\n")
    return summary.to_dict()


def _inputs(options: RunOptions) -> tuple[config_lib.PipelineConfig, data_lib.DataSource, str]:
    """The configuration with the command line's overrides, the data the run reads and their rerun key."""
    config = config_lib.load(options.config_path)
    if options.data_path:
        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, path=os.path.abspath(options.data_path))
        )
    if options.train_steps:
        config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, train_steps=options.train_steps)
        )
    if config.data.schema and not os.path.isfile(config.data.schema):
        raise config_lib.ConfigError(
            f"{config.path}: data.schema '{config.data.schema}' does not exist; fix the path or remove the key "
            "to validate against the inferred schema"
        )
    verdicts = _drift_verdicts(options.workspace.metadata, config.pipeline_name)
    source = data_lib.locate(config.data.path, config.data.window, options.span, verdicts, options.accept_drift)
    workspace = options.workspace
    paths = [workspace.pipeline_root, workspace.metadata, workspace.serving_model_dir(config.serving.model_name)]
    return config, source, rerun.rerun_key(config, source, workspace.serving_dir, paths, _PROJECT)


def _reusable(options: RunOptions, pipeline_name: str, key: str) -> rerun.Reused | None:
    """The completed run whose results answer this one (rerun.find), unless asked to run (--no-cache, a drift
    acceptance to record)."""
    if not options.enable_cache or options.accept_drift is not None:
        return None
    return rerun.find(options.workspace.metadata, pipeline_name, key, options.workspace.logs_dir)


def reusable_run(options: RunOptions) -> rerun.Reused | None:
    """The completed run `run(options)` would answer with, without running anything (None: it would run)."""
    config, _, key = _inputs(options)
    return _reusable(options, config.pipeline_name, key)


def _answer_rerun(
    reused: rerun.Reused,
    config: config_lib.PipelineConfig,
    source: data_lib.DataSource,
    workspace: Workspace,
    console: TextIO,
) -> dict:
    """Prints the results of `reused`, the completed run this one would repeat, and writes its summary beside a log
    of this answer (as a run does: bench/scale_report.py and `kfx runs` read them); runs nothing, records nothing."""
    log_path = _new_log_path(workspace)
    said = (
        f"Nothing changed since run {reused.run_id} of {reused.started}: the same data files, configuration, code "
        "and served model. Its results (read from ML Metadata; nothing ran and no new run is recorded; --no-cache "
        "runs every component again):\n"
    )
    with open(log_path, "w") as f:
        f.write(said)
    with open(summary_lib.summary_path(log_path), "w") as f:
        json.dump(reused.summary, f, indent=2, default=str)
    report_path = workspace.report_path(reused.run_id)
    report_line = f"\nReport: {report_path}" if os.path.isfile(report_path) else ""
    summary = summary_lib.RunSummary(**reused.summary)
    console.write(
        f"kfx run: pipeline '{config.pipeline_name}'\n"
        f"  data:      {source.data_path} ({_describe_window(source)}; {len(source.files)} file(s))\n"
        f"  workspace: artifacts {workspace.pipeline_root}\n"
        f"             metadata  {workspace.metadata}\n"
        f"  log:       {log_path}\n"
        f"{said}"
        f"{summary_lib.format_summary(summary, list(config.evaluation.slices))}{report_line}\n"
    )
    return {**reused.summary, "pushed_version": None}  # this answer pushed nothing: no rollout to start


def _new_log_path(workspace: Workspace) -> str:
    """`<logs>/run-<local time>.log`, the log of a run starting now (its summary goes beside it)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(workspace.logs_dir, f"run-{stamp}.log")


def _record(summary, workspace: Workspace, pipeline_name: str, log_path: str) -> str | None:
    """Writes the JSON summary and the HTML report; returns the report path.

    Inside the log redirection (MLMD and TFMA log as they load). Records that cannot be written (a full disk, a
    report that fails) are logged and skipped: the run and its artifacts are already complete.
    """
    import logging

    from monitoring import report as report_lib

    report_path = workspace.report_path(summary.run_id)
    try:
        with open(summary_lib.summary_path(log_path), "w") as f:
            json.dump(summary.to_dict(), f, indent=2, default=str)
        return report_lib.write_report(workspace.metadata, pipeline_name, report_path, summary.run_id)
    except Exception:  # noqa: BLE001 - these are views of the run; their failure must not fail the run
        logging.exception("Recording the run failed; `kfx report --run %s` writes its report", summary.run_id)
        return None


def _take_workspace(workspace: Workspace) -> lock.WorkspaceLock:
    """Checks that every workspace folder can be written and takes the workspace lock; RunFailed if either fails."""
    try:
        storage.prepare(workspace.folders())
        return lock.acquire(workspace.lock_paths())
    except lock.WorkspaceBusy as error:
        raise RunFailed(str(error)) from None
    except OSError as error:
        raise RunFailed(storage.describe(error)) from None


def _recover(held: lock.WorkspaceLock, workspace: Workspace, console: TextIO) -> None:
    """Says when the last run died holding the workspace, and cancels what it (or an interrupted run) left running."""
    if held.stale:
        console.write(f"Note: the last run here never finished ({held.stale.describe()}); its lock is released.\n")
    try:
        interrupted = recovery.recover(workspace.metadata, workspace.pipeline_root)
    except Exception as error:  # noqa: BLE001 - a full or read-only disk is told in one line; anything else raises
        disk_failure = storage.explain(error, workspace.folders())
        if disk_failure is None:
            raise
        raise RunFailed(disk_failure) from None
    for found in interrupted:
        console.write(
            f"Note: {found.node} of run {found.run_id} was interrupted: marked CANCELED in ML Metadata, its partial "
            "outputs removed.\n"
        )


def _describe_workers(workers: int, usable_cpus: int) -> str:
    """E.g. "DirectRunner, 1 worker in memory (2 usable CPU(s); worker processes by default from 4, or
    --direct_num_workers)"."""
    mode = "1 worker in memory" if workers == 1 else f"{workers} worker processes"
    return (
        f"DirectRunner, {mode} ({usable_cpus} usable CPU(s); worker processes by default from "
        f"{cpus.MULTI_PROCESSING_MIN_CPUS}, or --direct_num_workers)"
    )


def _describe_window(source: data_lib.DataSource) -> str:
    window = source.window
    if not source.has_spans:
        return "one span"
    spans = f"span {window.spans[0]}" if len(window.spans) == 1 else f"spans {window.spans[0]}-{window.spans[-1]}"
    drift = f"drift against span {window.previous}" if window.previous is not None else "no earlier span for drift"
    return f"{spans} of {len(window.available)}; {drift}"


def _drift_verdicts(metadata: str, pipeline_name: str) -> ledger.Ledger:
    """The drift verdicts earlier runs recorded in this workspace's ML Metadata (none before the first run).

    Opened for writing: this is where a database store is first reached (and created), so a wrong password or
    address is told in one line (connection.MetadataUnavailable, exit 2) before anything runs.
    """
    from ml_metadata import errors

    target = connection.parse(metadata)
    if not target.exists():
        return ledger.Ledger()
    store = connection.open_store(target, writable=not target.is_file)
    try:
        return ledger.read(store, pipeline_name)
    except errors.StatusError as error:
        raise RunFailed(f"cannot read the drift verdicts in ML Metadata at {metadata}: {error}") from None


def _describe_tuning(decision: tuning.Decision | None) -> str:
    """The header's line on hyperparameter tuning: whether this run searches and why (none when tuning is off)."""
    return f"  tuning:    {decision.reason}\n" if decision else ""


def _describe_drift_plan(source: data_lib.DataSource) -> str:
    """Lines of the header on what the drift verdicts of earlier runs change: spans left out, an acceptance."""
    plan, lines = source.drift_plan, ""
    if plan.excluded:
        spans = ", ".join(map(str, plan.excluded))
        lines += f"             span(s) {spans} left out: rejected by the drift check (see README, Drift)\n"
    if plan.acceptance:
        accepted = plan.acceptance
        lines += f"  accept:    span {accepted.span}'s drift, by {accepted.by} at {accepted.at}\n"
    return lines


def _summarize(metadata: str, pipeline_name: str, run_id: str):
    """Reads this run back from MLMD (None if no node started); inside the log redirection, as TFMA is chatty."""
    from monitoring import store as store_lib

    if not connection.parse(metadata).exists():
        return None
    store = store_lib.connect(metadata)
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    record = store_lib.run_record(store, context, pipeline_name) if context is not None else None
    return summary_lib.summarize(record) if record and record.states else None


def _run_pipeline(
    config: config_lib.PipelineConfig,
    source: data_lib.DataSource,
    span: int | None,
    drift_plan: ledger.Plan,
    workspace: Workspace,
    serving_model_dir: str,
    enable_cache: bool,
    beam_pipeline_args: list[str],
    run_id: str,
    console: TextIO,
    tune: bool = True,
    recorded_key: str = "",
) -> str | None:
    """Runs inside the log redirection; returns a one-paragraph failure description, or None."""
    import logging

    from absl import logging as absl_logging

    from monitoring import store as store_lib
    from pipeline import pipeline as pipeline_lib
    from runners.local import launch

    absl_logging.set_verbosity(absl_logging.INFO)
    tfx_pipeline = pipeline_lib.create_pipeline(
        config,
        pipeline_root=workspace.pipeline_root,
        data_path=source.data_path,
        input_base=source.input_base,
        input_pattern=source.pattern,
        span=span,
        drift_plan=drift_plan,
        serving_model_dir=serving_model_dir,
        metadata_connection_config=workspace.metadata_target.connection_config(writable=True),
        beam_pipeline_args=beam_pipeline_args,
        enable_cache=enable_cache,
        tune=tune,
    )
    reporter = progress.ComponentProgress(console, [c.id for c in tfx_pipeline.components])
    root = logging.getLogger()
    root.addHandler(reporter)
    # LocalDagRunner logs its connection config, a database password included.
    hide_password = connection.HidePassword("" if workspace.metadata_target.is_file else connection.password())
    for handler in root.handlers:
        handler.addFilter(hide_password)
    try:
        with interrupts.handled(on_interrupt=reporter.interrupt):
            recorded = (
                store_lib.code_version(_PROJECT)
                | store_lib.config_version(config.path)
                | store_lib.config_text(config.path)
            )
            recorded[store_lib.PIPELINE_ROOT] = workspace.pipeline_root
            recorded[rerun.RERUN_KEY] = recorded_key
            launch.run(tfx_pipeline, workspace.metadata, run_id, recorded)
    except Exception as error:  # noqa: BLE001 - any component failure ends the run with its message
        logging.exception("Pipeline run failed")
        reporter.fail()
        where = f"{reporter.current} failed" if reporter.current else "the pipeline failed"
        disk_failure = storage.explain(error, workspace.folders())
        if disk_failure:
            return f"{where}: {disk_failure}; completed components are reused by the next run"
        return f"{where}: {error}" if _is_user_facing(error) else f"{where}: {type(error).__name__}: {error}"
    finally:
        root.removeHandler(reporter)
        for handler in root.handlers:
            handler.removeFilter(hide_password)
    return None


def _is_user_facing(error: Exception) -> bool:
    from components.data_gate.executor import DataValidationError
    from components.drift_gate.executor import DriftError
    from components.window_example_gen.rows import WindowDataError

    return isinstance(error, (DataValidationError, DriftError, WindowDataError))
