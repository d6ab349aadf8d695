"""Charts of the run report: matplotlib's Agg backend draws PNGs, returned as data: URIs so the report needs no network.

Each function returns None when there is nothing finite to draw, and the report then shows its table alone.
"""

import base64
import io
import math
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_BLOCKED, _WARNED, _UNDER = "#c0392b", "#e67e22", "#5b8db8"
_LABEL_CHARS = 40
_SHORT_MEASURES = {"Jensen-Shannon divergence": "JS", "L-infinity distance": "L∞", "median change": "median"}
_BAR_HEIGHT_INCHES, _MARGIN_INCHES, _WIDTH_INCHES = 0.26, 1.0, 8.0


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _label(text: Any) -> str:
    """A tick label from data: shortened, with '$' escaped so matplotlib does not read it as mathtext."""
    text = str(text)
    text = text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _figure(bars: int) -> Figure:
    figure = Figure(figsize=(_WIDTH_INCHES, _MARGIN_INCHES + _BAR_HEIGHT_INCHES * bars), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def drift_chart(measurements: list[dict[str, Any]]) -> str | None:
    """Horizontal bars of each drift measurement with its threshold marked; red blocks, orange warns."""
    shown = [m for m in measurements if _finite(m.get("value")) and _finite(m.get("threshold"))]
    if not shown:
        return None
    figure = _figure(len(shown))
    axes = figure.add_subplot()
    positions = range(len(shown))
    colors = [(_BLOCKED if m["action"] == "block" else _WARNED) if m["over"] else _UNDER for m in shown]
    axes.barh(positions, [m["value"] for m in shown], color=colors)
    axes.scatter([m["threshold"] for m in shown], positions, marker="|", s=250, color="black", label="threshold")
    labels = [f"{m['feature']} {_SHORT_MEASURES.get(m['measure'], '')}".strip() for m in shown]
    axes.set_yticks(list(positions), [_label(text) for text in labels], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("measured value (bar) against its threshold (black mark); JS: Jensen-Shannon, L∞: L-infinity")
    axes.legend(loc="lower right", fontsize=8)
    return _data_uri(figure)


def slice_auc_chart(feature: str, rows: list[dict[str, Any]]) -> str | None:
    """Horizontal bars of AUC per slice of `feature`, lowest first; slices with no defined AUC are left out."""
    shown = sorted((r for r in rows if _finite(r.get("auc"))), key=lambda r: r["auc"])
    if not shown:
        return None
    figure = _figure(len(shown))
    axes = figure.add_subplot()
    positions = range(len(shown))
    bars = axes.barh(positions, [r["auc"] for r in shown], color=_UNDER)
    axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    axes.set_yticks(list(positions), [_label(f"{r['value']} (n={r['examples']})") for r in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0.0, 1.08)  # room for the value labels past AUC 1.0
    axes.set_xlabel(f"AUC per {_label(feature)} slice, lowest first")
    return _data_uri(figure)


def comparison_chart(feature: str, rows: list[dict[str, Any]], margin: float, tolerance: bool) -> str | None:
    """Each judged slice's AUC change against the served model (dot) with its confidence interval (bar), lowest first;
    zero and the policy's margin are marked. `rows` are comparison.json slices; `tolerance`: margin is a loss."""
    shown = [r for r in rows if all(_finite(r.get(k)) for k in ("difference", "lower", "upper"))]
    if not shown:
        return None
    figure = _figure(len(shown))
    axes = figure.add_subplot()
    positions = list(range(len(shown)))
    differences = [r["difference"] for r in shown]
    errors = [[r["difference"] - r["lower"] for r in shown], [r["upper"] - r["difference"] for r in shown]]
    axes.errorbar(differences, positions, xerr=errors, fmt="none", ecolor=_UNDER, elinewidth=2)
    axes.scatter(differences, positions, color=_UNDER, zorder=3)
    axes.axvline(0.0, color="black", linewidth=0.8)
    marked = -margin if tolerance else margin
    axes.axvline(marked, color=_WARNED, linestyle="--", linewidth=1, label=f"margin {marked:+.3f}")
    axes.set_yticks(positions, [_label(f"{r['value']} (n={r['rows']})") for r in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"AUC change against the served model per {_label(feature)} slice (dot) and its interval (bar)")
    axes.legend(loc="lower right", fontsize=8)
    return _data_uri(figure)


def distribution_chart(
    feature: str, bins: list[str], reference: list[float], newest: list[float], reference_name: str, newest_name: str
) -> str | None:
    """Two panels side by side, the reference's and the newest rows' share per bin (or value) of `feature`, on the
    same bins and scale; None when there is nothing to draw."""
    if not bins or not any(_finite(v) and v > 0 for v in reference + newest):
        return None
    figure = _figure(len(bins))
    left, right = figure.subplots(1, 2, sharey=True, sharex=True)
    positions = range(len(bins))
    for axes, shares, name, color in ((left, reference, reference_name, _UNDER), (right, newest, newest_name, _WARNED)):
        axes.barh(positions, shares, color=color)
        axes.set_title(f"{_label(feature)}: {_label(name)}", fontsize=9)
        axes.set_xlabel("share of the rows", fontsize=8)
    left.set_yticks(list(positions), [_label(text) for text in bins], fontsize=8)
    left.invert_yaxis()
    return _data_uri(figure)
