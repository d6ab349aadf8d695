"""A comparison (compare.py) as terminal text and as one self-contained HTML page in the run report's style."""

import os
from typing import Any

from monitoring import compare as compare_lib
from monitoring import compare_scores, pages
from monitoring import runs as runs_lib

TEMPLATE = "compare.html.j2"
SHOWN_SLICES = 3  # per feature in the text: the largest AUC drops and gains
NOT_AVAILABLE = "n/a"


def number(value: Any, signed: bool = False) -> str:
    """4 decimals ("+" on a difference), NOT_AVAILABLE for None."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def interval(lower: float | None, upper: float | None) -> str:
    return NOT_AVAILABLE if lower is None or upper is None else f"[{lower:+.4f}, {upper:+.4f}]"


def percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def commit_text(side: compare_lib.Side) -> str:
    if not side.git_commit:
        return compare_lib.NOT_RECORDED
    return side.git_commit[:12] + (" (uncommitted changes)" if side.git_dirty else "")


def rows_text(rows: dict[str, int]) -> str:
    return ", ".join(f"{split} {count:,}" for split, count in rows.items()) or compare_lib.NOT_RECORDED


def blessing_text(side: compare_lib.Side) -> str:
    """The run's outcome and its Evaluator's decision in one line."""
    decision = {True: "blessed", False: "not blessed", None: "no blessing"}[side.blessed]
    reason = f": {side.blessing}" if side.blessing else ""
    return f"{side.outcome} ({side.detail}); {decision}{reason}"


def value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def judged_by_feature(metrics: compare_scores.Metrics) -> dict[str, list[compare_scores.MetricRow]]:
    """Slice feature -> its slices, lowest AUC difference first (judged ones, then those too small to judge)."""
    found: dict[str, list[compare_scores.MetricRow]] = {}
    for row in metrics.slices:
        found.setdefault(row.feature, []).append(row)
    for rows in found.values():
        rows.sort(key=lambda r: (not r.judged, r.auc_difference if r.auc_difference is not None else 0.0))
    return found


def _slice_text(row: compare_scores.MetricRow) -> str:
    return f"{row.value} {number(row.auc_difference, True)} {interval(row.auc_lower, row.auc_upper)} (n={row.rows_b:,})"


def format_comparison(found: compare_lib.Comparison) -> str:
    """The comparison as text: sides, metrics, blessing, data, configuration, hyperparameters, code."""
    a, b = found.a, found.b
    lines = [f"A  {a.name}  started {a.started}", f"B  {b.name}  started {b.started}", ""]
    metrics = found.metrics
    if metrics is None:
        lines.append(f"Metrics: not compared: {found.metrics_note}")
        summaries = ", ".join(
            f"{name} A {runs_lib.metric_text(a.summary_metrics.get(name))} B "
            f"{runs_lib.metric_text(b.summary_metrics.get(name))}"
            for name in runs_lib.KEY_METRICS
        )
        lines.append(f"  from the runs' summaries: {summaries}")
    else:
        lines.append(f"Metrics, B - A with its {percent(metrics.confidence)} CI ({metrics.method})")
        overall = metrics.overall
        table = [
            ("", "A", "B", "B - A", "CI"),
            ("AUC", number(overall.auc_a), number(overall.auc_b), number(overall.auc_difference, True),
             interval(overall.auc_lower, overall.auc_upper)),
            ("accuracy", number(overall.accuracy_a), number(overall.accuracy_b),
             number(overall.accuracy_difference, True), interval(overall.accuracy_lower, overall.accuracy_upper)),
            ("eval rows", f"{overall.rows_a:,}", f"{overall.rows_b:,}", "", ""),
        ]  # fmt: skip
        widths = [max(len(row[column]) for row in table) for column in range(5)]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
        for feature, rows in judged_by_feature(metrics).items():
            judged = [row for row in rows if row.judged]
            line = (f"  by {feature}: {len(judged)} of {len(rows)} values judged (n>={metrics.min_slice_size} on both "
                    f"sides, both classes)")  # fmt: skip
            lowest = judged[:SHOWN_SLICES]
            highest = [row for row in judged[::-1][:SHOWN_SLICES] if row not in lowest]
            if lowest:
                line += f"; lowest B - A: {', '.join(_slice_text(r) for r in lowest)}"
            if highest:
                line += f"; highest: {', '.join(_slice_text(r) for r in highest)}"
            lines.append(line)
        lines.append("  (every slice: --json or --html)")
    lines += ["", "Blessing", f"  A  {blessing_text(a)}", f"  B  {blessing_text(b)}"]
    lines += ["", "Data"]
    for label, one, other in (
        ("spans", ", ".join(map(str, a.spans)) or "-", ", ".join(map(str, b.spans)) or "-"),
        ("fingerprint", a.data_fingerprint or compare_lib.NOT_RECORDED, b.data_fingerprint or compare_lib.NOT_RECORDED),
        ("rows", rows_text(a.rows), rows_text(b.rows)),
    ):
        same = "  (same)" if one == other else ""
        lines.append(f"  {label:<12} A {one}\n  {'':<12} B {other}{same}")
    lines.append(f"  statistics: {found.data_note}")
    for change in found.changed_features:
        divergence = NOT_AVAILABLE if change.divergence is None else f"{change.divergence:.3f}"
        lines.append(
            f"    {change.feature:<24} JS {divergence}  missing {change.missing_a:.1%} -> {change.missing_b:.1%}  "
            f"{change.summary_a} -> {change.summary_b}"
        )
    sha = f"{(a.config_sha256 or '-')[:10]} -> {(b.config_sha256 or '-')[:10]}"
    lines += ["", f"Configuration  sha256 {sha}: {found.config_note}"]
    lines += [f"  {line}" for line in found.config_diff]
    sources = f"A {_source(a.hyperparameters)}, B {_source(b.hyperparameters)}"
    changed = [row for row in found.hyperparameters if row["changed"]]
    lines += ["", f"Hyperparameters ({sources})"]
    if not found.hyperparameters:
        lines.append("  not recorded (no Trainer ran)")
    elif not changed:
        lines.append("  the same")
    lines += [f"  {row['name']:<24} {value_text(row['a'])} -> {value_text(row['b'])}" for row in changed]
    lines += ["", f"Code  {commit_text(a)} -> {commit_text(b)}: {found.commits_note}"]
    lines += [f"  {line}" for line in found.commits]
    return "\n".join(lines)


def _source(used: dict) -> str:
    """Where a side's hyperparameters came from: "set", "tuned" or "reused", with the run that searched."""
    source = used.get("source", "-")
    return f"{source} (search of run {used['tuned_run']})" if used.get("tuned_run") else source


def render_html(found: compare_lib.Comparison) -> str:
    """The comparison as one self-contained HTML page in the run report's style: it loads nothing."""
    environment = pages.environment(number=number, value=value_text, rows=rows_text, commit=commit_text)
    environment.globals.update(interval=interval, percent=percent, blessing=blessing_text, source=_source)
    by_feature = judged_by_feature(found.metrics) if found.metrics else {}
    return environment.get_template(TEMPLATE).render(c=found, by_feature=by_feature)


def write_html(found: compare_lib.Comparison, path: str) -> str:
    """Writes the page to `path`; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(found))
    return path
