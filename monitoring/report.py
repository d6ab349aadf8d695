"""The HTML report of one pipeline run, read back from ML Metadata and the artifacts the run recorded.

One Jinja2 template (templates/report.html.j2) with inline CSS, tables from TFDV and pandas, and matplotlib charts as
data: URIs, so the file opens with no network. TFDV's facets and TFMA's widgets are not used: both load scripts from
the internet.
"""

import dataclasses
import datetime
import math
import numbers
import os
from typing import Any

from ml_metadata import metadata_store
from tensorflow_data_validation.utils import display_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from components.champion_evaluator import policy as champion_policy
from components.drift_gate import executor as drift_executor
from components.drift_gate import policy as drift_policy
from monitoring import artifacts, charts, drift_view, pages
from monitoring import comparison as comparison_lib
from monitoring import lineage as lineage_lib
from monitoring import store as store_lib
from monitoring import summary as summary_lib
from monitoring import verdict as verdict_lib

TEMPLATE = "report.html.j2"
_SPLIT_ORDER = ("train", "eval", "newest_span", "previous_span")
_TOP_VALUES = 3
_SHOWN_RUN_IDS = 5  # recorded run ids named when the one asked for is unknown


class ReportError(LookupError):
    """No report can be written: no metadata at the path, no run of the pipeline, or an unknown run id."""


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def format_number(value: Any, digits: int = 4, signed: bool = False) -> str:
    """A number for display (whole numbers as such); None, NaN, infinities and non-numbers read "n/a"."""
    if not _finite(value):
        return "n/a"
    sign = "+" if signed else ""
    return f"{value:{sign},}" if isinstance(value, numbers.Integral) else f"{value:{sign},.{digits}f}"


def format_percent(fraction: Any, digits: int = 1) -> str:
    """A fraction as a percentage; None, NaN, infinities and non-numbers read "n/a"."""
    return f"{fraction * 100:.{digits}f}%" if _finite(fraction) else "n/a"


@dataclasses.dataclass
class ReportData:
    """Everything the template shows about one run, gathered before rendering."""

    pipeline_name: str
    summary: summary_lib.RunSummary
    commit: str = "not recorded"
    dirty: str = "not recorded"
    statistics: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    anomalies: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    drift_headline: str = "not run"
    drift_blocked: bool = False
    drift_measurements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    drift_anomalies: str = ""  # DistributionValidator's anomalies as an HTML table; "" when there are none
    drift_distributions: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {feature, chart}
    lineage: lineage_lib.Lineage | None = None
    lineage_error: str = ""  # why the lineage of the pushed version could not be read
    generated: str = dataclasses.field(default_factory=lambda: datetime.datetime.now().isoformat(" ", "seconds"))


def find_run_id(metadata: str, pipeline_name: str, run_id: str | None = None) -> str:
    """The id of run `run_id` (default: the latest run); ReportError when there is no such run."""
    return _find_run(_connect(metadata), pipeline_name, run_id).run_id


def write_report(metadata: str, pipeline_name: str, output_path: str, run_id: str | None = None) -> str:
    """Writes the self-contained HTML report of run `run_id` (default: the latest run) and returns its path."""
    store = _connect(metadata)
    run = _find_run(store, pipeline_name, run_id)
    html = render(collect(store, pipeline_name, run))
    output_path = os.path.abspath(output_path)
    os.makedirs(os.path.dirname(output_path), exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as f:
        f.write(html)
    return output_path


def render(report: ReportData) -> str:
    """The report as one HTML document."""
    environment = pages.environment(num=format_number, pct=format_percent)
    return environment.get_template(TEMPLATE).render(
        report=report,
        run=report.summary,
        drift_chart=charts.drift_chart(report.drift_measurements),
        metric_rows=_metric_rows(report.summary.metrics),
        blessing=summary_lib.blessing_text(report.summary),
        not_pushed=_not_pushed(report.summary),
        **_evaluation_views(report.summary),
    )


def _evaluation_views(summary: summary_lib.RunSummary) -> dict[str, Any]:
    """The verdict, the comparison with the served model and the slice charts; slices smaller than the Evaluator's
    min_slice_size are listed in the tables but neither charted nor judged."""
    comparison = summary.comparison
    size = comparison_lib.min_slice_size(comparison)
    slice_charts = {
        feature: charts.slice_auc_chart(feature, [row for row in rows if row["examples"] >= size])
        for feature, rows in summary.slices.items()
    }
    comparison_charts = {}
    if comparison_lib.headline(comparison):
        tolerance = comparison["policy"] == champion_policy.NON_INFERIORITY
        for feature in sorted({row["feature"] for row in comparison["slices"]}):
            judged = comparison_lib.judged_slices(comparison, feature)
            comparison_charts[feature] = charts.comparison_chart(feature, judged, comparison["margin"], tolerance)
    return {
        "verdict": verdict_lib.of(summary),
        "comparison_headline": comparison_lib.headline(comparison),
        "min_slice_size": size,
        "slice_charts": slice_charts,
        "comparison_charts": comparison_charts,
    }


def collect(store: metadata_store.MetadataStore, pipeline_name: str, run: store_lib.RunRecord) -> ReportData:
    """Gathers the report's facts for `run` from its artifacts; parts of a run that did not happen stay empty."""
    summary = summary_lib.summarize(run)
    code = store_lib.run_properties(store, run.run_id)
    report = ReportData(
        pipeline_name=pipeline_name,
        summary=summary,
        commit=code.get(store_lib.GIT_COMMIT, "not recorded"),
        dirty=code.get(store_lib.GIT_DIRTY, "not recorded"),
    )
    statistics = run.output("StatisticsGen", "statistics")
    if statistics is not None:
        stats = artifacts.statistics(statistics)
        report.statistics = [
            _split_statistics(split, artifacts.load_statistics(stats, split)) for split in _in_order(stats.splits)
        ]
    validation = run.output("ExampleValidator", "anomalies")
    if validation is not None:
        found = artifacts.anomalies(validation)
        report.anomalies = [
            _anomalies(split, artifacts.load_anomalies(found, split)) for split in _in_order(found.splits)
        ]
    _add_drift(report, store, pipeline_name, run)
    if summary.pushed_version:
        try:
            report.lineage = lineage_lib.served_lineage(store, str(summary.pushed_version))
        except lineage_lib.LineageError as error:
            report.lineage_error = str(error)
    return report


def _connect(metadata: str) -> metadata_store.MetadataStore:
    try:
        return store_lib.connect(metadata)
    except store_lib.MetadataUnavailable as error:
        raise ReportError(str(error)) from None


def _find_run(store: metadata_store.MetadataStore, pipeline_name: str, run_id: str | None) -> store_lib.RunRecord:
    if run_id is None:
        run = store_lib.latest_run(store, pipeline_name)
        if run is None:
            raise ReportError(f"no run of pipeline '{pipeline_name}' is recorded here: run `kfx run` first")
        return run
    runs = store_lib.pipeline_runs(store, pipeline_name)
    context = next((c for c in runs if c.name == run_id), None)
    if context is None:
        recent = ", ".join(c.name for c in runs[-_SHOWN_RUN_IDS:]) or "none"
        raise ReportError(f"no run '{run_id}' of pipeline '{pipeline_name}'; the latest runs: {recent}")
    return store_lib.run_record(store, context, pipeline_name)


def _in_order(splits: list[str]) -> list[str]:
    """An artifact's splits in the report's order, then any others by name."""
    order = {split: index for index, split in enumerate(_SPLIT_ORDER)}
    return sorted(splits, key=lambda split: (order.get(split, len(order)), split))


def _split_statistics(split: str, statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, Any]:
    dataset = statistics.datasets[0]
    features = [_feature_row(feature, dataset.num_examples) for feature in dataset.features]
    return {"split": split, "rows": dataset.num_examples, "features": sorted(features, key=lambda f: f["name"])}


def _feature_row(feature: statistics_pb2.FeatureNameStatistics, rows: int) -> dict[str, Any]:
    """Missing share and either mean/std/min/max (numbers) or distinct and top values (strings) of one feature."""
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind) if kind else None
    common = stats.common_stats if stats is not None else None
    row: dict[str, Any] = {
        "name": ".".join(feature.path.step) or feature.name,
        "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
        "missing": common.num_missing / rows if common is not None and rows else None,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "unique": None,
        "top": "",
    }
    if kind == "num_stats":
        row.update(mean=stats.mean, std=stats.std_dev, min=stats.min, max=stats.max)
    elif kind == "string_stats":
        present = common.num_non_missing or 0
        top = [
            f"{value.value} ({format_percent(value.frequency / present if present else None)})"
            for value in stats.top_values[:_TOP_VALUES]
        ]
        row.update(unique=stats.unique, top=", ".join(top))
    return row


def _anomalies_table(anomalies: anomalies_pb2.Anomalies) -> str:
    table = display_util.get_anomalies_dataframe(anomalies)
    return "" if table.empty else table.to_html(na_rep="n/a", classes="data", border=0)


def _anomalies(split: str, anomalies: anomalies_pb2.Anomalies) -> dict[str, Any]:
    return {"split": split, "count": len(anomalies.anomaly_info), "table": _anomalies_table(anomalies)}


def _add_drift(
    report: ReportData, store: metadata_store.MetadataStore, pipeline_name: str, run: store_lib.RunRecord
) -> None:
    """Every drift measurement (DriftGate's drift.json, blocked runs included), DistributionValidator's anomalies
    and, for each drifted feature, the newest and reference distributions side by side."""
    summary = report.summary
    report.drift_headline = summary.drift
    report.drift_measurements = summary.drift_measurements
    report.drift_blocked = summary.drift_verdict == drift_policy.REJECTED
    validator = run.output("DistributionValidator", "anomalies")
    if validator is not None:
        pair = (drift_executor.NEWEST_SPLIT, drift_executor.PREVIOUS_SPLIT)
        anomalies = artifacts.load_split_pair_anomalies(artifacts.anomalies(validator), *pair)
        report.drift_anomalies = _anomalies_table(anomalies) if anomalies is not None else ""
    failed = [node for node, state in run.states.items() if state == "FAILED"]
    if summary_lib.DRIFT_GATE not in run.states and failed:
        report.drift_headline = f"not checked: the run stopped at {', '.join(failed)} before the DriftGate"
    drift, statistics = (
        run.output(summary_lib.DRIFT_GATE, drift_executor.DRIFT_KEY),
        run.output("StatisticsGen", "statistics"),
    )
    if drift is not None and statistics is not None:
        report.drift_distributions = drift_view.distributions(statistics, drift_executor.read_report(drift.uri))


def _metric_rows(metrics: dict[str, float | None]) -> list[dict[str, Any]]:
    """Each overall metric with the served baseline's value and the change, when TFMA compared the two."""
    rows = []
    for name in sorted((n for n in metrics if not n.endswith("_diff")), key=lambda n: (n != "auc", n)):
        value, change = metrics[name], metrics.get(f"{name}_diff")
        baseline = value - change if _finite(value) and _finite(change) else None
        digits = 0 if name == "example_count" else 4
        why = None if _finite(value) else summary_lib.undefined_reason(name)
        rows.append(
            {"name": name, "value": value, "change": change, "baseline": baseline, "digits": digits, "why": why}
        )
    return rows


def _not_pushed(summary: summary_lib.RunSummary) -> str:
    failed = [node for node, state in summary.states.items() if state == "FAILED"]
    if failed:
        return f"not pushed: the run stopped at {', '.join(failed)}, so the steps after it did not run"
    if summary.identical_to_version is not None:
        return (
            f"not pushed: version {summary.identical_to_version} in the serving folder already holds this model "
            f"(same fingerprint {summary.model_fingerprint}); nothing new to serve"
        )
    if summary.blessed is False:
        served = f"served version {summary.baseline_version}" if summary.baseline_version else "the served model"
        return f"not pushed: the model was not blessed (see the blessing above); {served} is unchanged"
    if "Pusher" not in summary.states:
        return "not pushed: the Pusher did not run in this run"
    return "not pushed: the Pusher ran but recorded no push"
