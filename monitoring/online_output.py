"""Where online quality goes: a console table, Prometheus metrics as a textfile, JSON and HTML reports.

The metrics file (`online.prom` beside the reports) is written whole and renamed into place, the way the node
exporter's textfile collector expects: one gauge per measure with `model`, `version` and `route` labels, its interval
as `_low` and `_high` gauges, and the comparisons as `kfx_online_difference{measure, candidate_version,
candidate_route, baseline_version, paired}`. A value that could not be computed has no sample (never NaN).
"""

import json
import os

import jinja2
import prometheus_client
import tensorflow as tf

from monitoring.online import OnlineReport
from monitoring.online_stats import Estimate
from monitoring.request_logs import absolute, one_line

ONLINE_TEMPLATE = "online.html.j2"  # in monitoring/templates/, a page of its own (kfx monitor --skip-skew)
METRICS_FILE = "online.prom"
MEASURES = {  # field of VersionQuality -> what its gauge says
    "auc": "AUC of the labelled predictions",
    "log_loss": "mean log loss of the labelled predictions",
    "predicted_rate": "mean score of the labelled predictions",
    "observed_rate": "share of the labelled predictions whose outcome is positive",
    "positive_rate": "share of the predictions with a score of at least 0.5",
}
_VERSION_LABELS = ("model", "version", "route")
_COMPARISON_LABELS = ("model", "measure", "candidate_version", "candidate_route", "baseline_version", "paired")


def _number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def interval(estimate: Estimate, sign: bool = False, digits: int = 3) -> str:
    """`0.912 [0.890, 0.934]`, `0.912` without an interval, `n/a` without a value."""
    text = _number(estimate.value, digits, sign)
    if estimate.value is not None and estimate.low is not None:
        text += f" [{_number(estimate.low, digits, sign)}, {_number(estimate.high, digits, sign)}]"
    return text


def summary(report: OnlineReport) -> str:
    """A table per (version, route) with the intervals, the comparisons, and why a value is missing."""
    window = (f", since {report.since:.0f}" if report.since is not None else "") + (
        f", last {report.last} labelled" if report.last else ""
    )
    lines = [
        f"online quality of {report.model} ({report.confidence:.0%} intervals{window}; "
        f"{report.outcomes_stored} outcomes stored)"
    ]
    columns = ("version", "route", "predictions", "labelled", "AUC", "log loss", "observed rate", "predicted rate")
    rows = [columns] + [
        (v.version, v.route or "-", str(v.predictions), str(v.labelled), interval(v.auc), interval(v.log_loss),
         interval(v.observed_rate), interval(v.predicted_rate))
        for v in report.versions
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
              for row in rows]  # fmt: skip
    for c in report.comparisons:
        kind = (
            f"paired on {c.n} labelled rows both answered"
            if c.paired
            else (f"unpaired, {c.n} vs {c.baseline_n} labelled rows")
        )
        lines.append(
            f"  {c.candidate_route} {c.candidate_version} - stable {c.baseline_version}, {c.measure}: "
            f"{interval(c.difference, sign=True, digits=4)} ({kind})"
            + (f": {c.difference.reason}" if c.difference.value is None else "")
        )
    for v in report.versions:
        for name in ("auc", "log_loss"):
            estimate = getattr(v, name)
            if estimate.reason:
                lines.append(f"  {v.route or '-'} {v.version} {name}: {estimate.reason}")
    if not report.versions:
        lines.append(f"  no requests of model '{report.model}' in the logs")
    return "\n".join(lines)


def metrics(report: OnlineReport) -> prometheus_client.CollectorRegistry:
    """The report as gauges in a registry of their own."""
    registry = prometheus_client.CollectorRegistry()

    def gauges(name: str, description: str, labels: tuple[str, ...]) -> list[prometheus_client.Gauge]:
        return [
            prometheus_client.Gauge(f"kfx_online_{name}{suffix}", f"{description}{note}", labels, registry=registry)
            for suffix, note in (("", ""), ("_low", ", lower bound"), ("_high", ", upper bound"))
        ]

    counts = {
        name: prometheus_client.Gauge(f"kfx_online_{name}", text, _VERSION_LABELS, registry=registry)
        for name, text in (("predictions", "predictions logged in the window"), ("labelled", "of which labelled"))
    }
    for version in report.versions:
        labels = (report.model, version.version, version.route)
        counts["predictions"].labels(*labels).set(version.predictions)
        counts["labelled"].labels(*labels).set(version.labelled)
    for name, description in MEASURES.items():
        value, low, high = gauges(name, description, _VERSION_LABELS)
        for version in report.versions:
            _set((value, low, high), (report.model, version.version, version.route), getattr(version, name))
    difference = gauges("difference", "candidate minus stable", _COMPARISON_LABELS)
    for c in report.comparisons:
        labels = (report.model, c.measure, c.candidate_version, c.candidate_route, c.baseline_version,
                  str(c.paired).lower())  # fmt: skip
        _set(difference, labels, c.difference)
    stamp = prometheus_client.Gauge("kfx_online_measured_timestamp_seconds", "when online quality was measured",
                                    ("model",), registry=registry)  # fmt: skip
    stamp.labels(report.model).set_to_current_time()
    return registry


def _set(gauges: tuple | list, labels: tuple[str, ...], estimate: Estimate) -> None:
    for gauge, number in zip(gauges, (estimate.value, estimate.low, estimate.high), strict=True):
        if number is not None:
            gauge.labels(*labels).set(number)


def write_metrics(report: OnlineReport, path: str) -> None:
    """The metrics as a Prometheus textfile: renamed into place locally, written whole to gs:// and other URIs."""
    registry = metrics(report)
    try:
        if "://" in path:
            with tf.io.gfile.GFile(path, "wb") as f:
                f.write(prometheus_client.generate_latest(registry))
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            prometheus_client.write_to_textfile(path, registry)
    except (OSError, tf.errors.OpError) as error:
        raise OSError(f"cannot write the metrics {path}: {one_line(error)}") from None


def write_reports(report: OnlineReport, json_path: str, html_path: str) -> None:
    """Online quality alone as JSON and as one self-contained HTML page."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("monitoring", "templates"), autoescape=True)
    page = environment.get_template(ONLINE_TEMPLATE).render(online=report, interval=interval)
    write_texts({json_path: json.dumps({"online": report.to_dict()}, indent=2) + "\n", html_path: page})


def write_texts(texts: dict[str, str]) -> None:
    """Writes each report file (local or gs://), creating its folder; OSError naming the file it could not write."""
    for path, text in texts.items():
        try:
            tf.io.gfile.makedirs(os.path.dirname(absolute(path)))
            with tf.io.gfile.GFile(path, "w") as f:
                f.write(text)
        except tf.errors.OpError as error:
            raise OSError(f"cannot write the report {path}: {one_line(error)}") from None
