"""`kfx monitor`: training/serving skew of the served versions, from the model server's request logs.

Reads the PredictionLog files the server writes when the model's `logging_config` turns request logging on, finds
by lineage the training statistics of each version that answered, and compares them with TFDV's skew comparators
(thresholds: the `skew` section of the configuration). Writes a JSON and an HTML report. Exit code 0: no skew past
a threshold; 1: skew past a threshold; 2: bad input (no or unreadable logs, a version this workspace never pushed,
ML Metadata unreachable); skew past a threshold is also posted to the webhook of the `rollout` section, if one is
set. On Kubeflow, `kfx compile-monitor` puts this command in a one-task pipeline for a recurring
run (runners/kubeflow/monitor.py): any non-zero exit fails that run, which is the alert.

Online quality (when the workspace has an outcome store from `kfx feedback`, or with --online): per version and
route, the AUC, log loss and calibration of the predictions joined with their outcomes, with intervals, and canary or
shadow against stable; added to both reports and written as Prometheus metrics (online.prom beside the reports). It
never changes the exit code; --skip-skew measures it alone (exit 0, or 2 on bad input).

Logs, training statistics and reports may be local paths or gs:// URIs (tf.io.gfile); ML Metadata is the workspace's
SQLite file, a MySQL/MariaDB or PostgreSQL database (--metadata), or, with --metadata-grpc, the MLMD service
Kubeflow Pipelines records its runs in.
"""

import argparse
import datetime
import os
import re
import sys
import time
from typing import TYPE_CHECKING

from kfx import options

if TYPE_CHECKING:
    from monitoring.skew import SkewReport

EXIT_SKEW = 1  # the check ran and found skew past a threshold
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")  # --since 24h: that long before now
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx monitor`."""
    monitor = commands.add_parser(
        "monitor",
        help="training/serving skew from the model server's request logs (exit 1 past a threshold)",
        description=" ".join(__doc__.split("\n\n")[1:3]),
    )
    monitor.add_argument(
        "--logs",
        required=True,
        help="folder of request log files (*.tfrecord), or the filename_prefix of the model's logging_config "
        "(<prefix>-*.tfrecord); files still being written (.tmp) are skipped; local or gs://",
    )
    options.add_workspace(monitor)
    monitor.add_argument(
        "--metadata-grpc",
        metavar="HOST:PORT",
        default=os.environ.get("KFX_METADATA_GRPC"),
        help="read ML Metadata from this gRPC service (the same as --metadata grpc://HOST:PORT): Kubeflow "
        "Pipelines' metadata-grpc-service.kubeflow:8080 in the cluster, or localhost:8080 after `kubectl "
        "port-forward -n kubeflow svc/metadata-grpc-service 8080:8080` (env KFX_METADATA_GRPC)",
    )
    options.add_config(monitor, "for the model name and the skew thresholds")
    monitor.add_argument("--output-dir", help="folder for the reports, local or gs:// (default <workspace>/monitoring)")
    online = monitor.add_argument_group("online quality (predictions joined with the outcomes of `kfx feedback`)")
    online.add_argument(
        "--online",
        action="store_true",
        help="measure online quality (bad input without an outcome store); without this flag it is measured "
        "whenever the outcome store exists",
    )
    online.add_argument("--skip-skew", action="store_true", help="measure online quality only (no ML Metadata needed)")
    online.add_argument("--outcomes", help="outcome store (default <workspace>/feedback/outcomes.sqlite)")
    online.add_argument(
        "--since",
        metavar="WHEN",
        help="only requests logged since WHEN: ISO 8601, seconds since the epoch, or a duration back from now "
        "(30m, 24h, 7d)",
    )
    online.add_argument("--last", type=options.positive_int, metavar="N",
                        help="the last N labelled predictions of each version and route")  # fmt: skip
    online.add_argument("--confidence", type=confidence, default=0.95, help="of the intervals (default 0.95)")
    monitor.set_defaults(func=run)


def confidence(text: str) -> float:
    """argparse type: a confidence level strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 such as 0.95, got '{text}'")
    return value


def since(text: str | None, now: float) -> float | None:
    """--since as seconds since the epoch; ValueError naming the forms it accepts."""
    if text is None:
        return None
    duration = DURATION.fullmatch(text.strip())
    if duration:
        return now - float(duration.group(1)) * SECONDS[duration.group(2)]
    from feedback.ingest import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected ISO 8601, seconds since the epoch or 30m / 24h / 7d") from None


def run(args: argparse.Namespace) -> int:
    """Checks the logs, writes the reports, prints a summary; returns the exit code."""
    options.quiet_tensorflow()
    from ml_metadata import errors as mlmd_errors

    from feedback import store as outcome_store
    from monitoring import lineage, online, online_output, skew, store
    from pipeline.config import ConfigError, load

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")  # unique per check
    output_dir = skew.absolute(args.output_dir or os.path.join(args.workspace, "monitoring"))
    name = "online" if args.skip_skew else "skew"
    json_path, html_path = (os.path.join(output_dir, f"{name}-{stamp}.{ext}") for ext in ("json", "html"))
    metrics_path = os.path.join(output_dir, online_output.METRICS_FILE)
    outcomes = args.outcomes or outcome_store.path(args.workspace)
    measure_online = args.online or args.skip_skew or os.path.exists(outcomes)
    report = quality = None
    target = ""
    try:
        window_start = since(args.since, time.time())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    try:
        if measure_online and not os.path.exists(outcomes):
            raise OSError(f"no outcome store at {outcomes}: send outcomes with `kfx feedback FILE` first")
        config = load(args.config)
        if measure_online:
            quality = online.measure(args.logs, outcomes, config.serving.model_name, since=window_start,
                                     last=args.last, confidence=args.confidence)  # fmt: skip
        if args.skip_skew:
            online_output.write_reports(quality, json_path, html_path)
        else:
            if args.metadata_grpc:
                args.metadata = store.GRPC_SCHEME + args.metadata_grpc
            target = options.workspace(args).recorded_metadata()
            report = skew.check(args.logs, store.connect(target), config)
            skew.write_reports(report, json_path, html_path, quality)
        if quality is not None:
            online_output.write_metrics(quality, metrics_path)
    except (ConfigError, skew.LogError, lineage.LineageError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    except mlmd_errors.StatusError as error:  # the MLMD service failed part-way through
        print(f"error: ML Metadata at {target}: {store.describe(error)}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    if report is not None:
        print(summary(report))
    if quality is not None:
        print(online_output.summary(quality))
    print(f"report: {json_path}\n        {html_path}")
    if quality is not None:
        print(f"metrics: {metrics_path}")
    if report is not None:
        _alert(config, report, json_path)
    return EXIT_SKEW if report is not None and report.skewed else 0


def _alert(config, report: "SkewReport", json_path: str) -> None:
    """Posts each skewed version to the webhook of the config's rollout section, if one is set; a receiver that
    is down is a warning, the exit code stays the check's."""
    from rollout import alerts

    for body in alerts.skew_alarms(report, json_path):
        warning = alerts.send(config.rollout.webhook, body)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)


def summary(report: "SkewReport") -> str:
    """A few lines per version: rows checked, the features over a threshold (or the closest one), other anomalies."""
    lines = [f"checked {sum(v.requests for v in report.versions)} requests in {len(report.files)} log file(s)"]
    for version in report.versions:
        lines.append(f"{version.model} version {version.version}: {version.requests} requests, {version.rows} rows")
        for m in version.over:
            lines.append(f"  over threshold: {m.feature} {m.measure} {m.value:.4f} > {m.threshold:g}")
        if not version.over and version.skew:
            closest = max(version.skew, key=lambda m: m.value / m.threshold)
            lines.append(
                f"  no feature over its threshold (closest: {closest.feature} {closest.measure} "
                f"{closest.value:.4f}, threshold {closest.threshold:g})"
            )
        if version.anomalies:
            features = sorted({a.feature for a in version.anomalies})
            lines.append(f"  other anomalies in the serving data ({len(version.anomalies)}): {', '.join(features)}")
    for kind, count in report.ignored.items():
        lines.append(f"not checked: {count} records of {kind}")
    over = [f"{m.feature} (version {v.version})" for v in report.versions for m in v.over]
    lines.append(f"skew past a threshold: {', '.join(dict.fromkeys(over))}" if over else "no skew past a threshold")
    return "\n".join(lines)
