"""The only place the rollout touches issue 15's other two parts: the routing file (part A, serving/routing.py) and
online quality (part B, monitoring/online.py), both as CONTRACT.md declares them.

Until those parts are merged, the routing file is read and written here in the contract's JSON format, and online
quality is reported as unknown (so a step waits) when `monitoring.online` is not there.
"""

import json
import os
import tempfile

from rollout.rules import Interval, Quality

ROUTING_FILE = "routing.json"  # <serving dir>/routing.json, next to models.config


class RoutingFileError(ValueError):
    """The routing file cannot be read; the message names it and the fix."""


def read_routes(path: str) -> dict[str, dict[str, float]]:
    """Model -> {canary_weight, shadow_sample} of the routing file (no file: none).

    Switch to `serving.routing.read(path).models` once part A is merged."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RoutingFileError(f"{path} cannot be read ({error}); fix or delete it") from None
    models = data.get("models", {}) if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise RoutingFileError(f'{path}: expected {{"models": {{<model>: {{"canary_weight": ...}}}}}}')
    return {name: {"canary_weight": 0.0, "shadow_sample": 0.0, **route} for name, route in models.items()}


def write_route(path: str, model: str, canary_weight: float, shadow_sample: float) -> None:
    """Sets one model's entry (other models' entries are kept), atomically: a temporary file renamed over the old.

    A model keeps its entry at weight 0 once a rollout ends, so that name-only requests keep going to the `stable`
    label rather than to the newest loaded version. Switch to `serving.routing.read` / `serving.routing.write` with
    `ModelRoute(canary_weight=..., shadow_sample=...)` once part A is merged."""
    routes = read_routes(path)
    routes[model] = {"canary_weight": canary_weight, "shadow_sample": shadow_sample}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".routing.json.", delete=False) as f:
        json.dump({"models": routes}, f, indent=2)
    os.replace(f.name, path)


def online_quality(
    logs: str, outcomes: str, model: str, mode: str, candidate: int, stable: int, since: float, confidence: float
) -> tuple[Quality | None, str]:
    """The candidate's online AUC against stable's since the rollout started, or (None, why not)."""
    from monitoring import online

    if not os.path.exists(outcomes):
        return None, f"no outcomes yet ({outcomes}): ingest them with `kfx feedback FILE`"
    try:
        report = online.measure(logs, outcomes, model, since=since, confidence=confidence)
    except (OSError, ValueError, LookupError) as error:
        return None, f"online quality of {logs}: {error}"
    return quality_from_report(report, mode, candidate, stable)


def quality_from_report(report, mode: str, candidate: int, stable: int) -> tuple[Quality | None, str]:
    """Reads `OnlineReport.versions` (per version and route) and `.comparisons` (candidate vs stable AUC)."""
    mine = _entry(report.versions, candidate, mode)
    theirs = _entry(report.versions, stable, "stable")
    comparison = next(
        (
            c
            for c in report.comparisons
            if str(c.candidate_version) == str(candidate)
            and c.candidate_route == mode
            and str(c.baseline_version) == str(stable)
            and c.measure == "auc"
        ),
        None,
    )
    if mine is None or theirs is None:
        return None, f"no logged predictions of version {candidate} ({mode}) and {stable} (stable) yet"
    difference = _interval(comparison.difference) if comparison is not None else Interval(None)
    note = getattr(comparison.difference, "reason", "") if comparison is not None else "no comparison reported"
    return Quality(
        measure="auc",
        candidate=_interval(mine.auc),
        stable=_interval(theirs.auc),
        difference=difference,
        candidate_labelled=int(mine.labelled),
        stable_labelled=int(theirs.labelled),
        paired=bool(comparison.paired) if comparison is not None else mode == "shadow",
        note=note or "",
    ), ""


def _entry(entries, version: int, route: str):
    return next((e for e in entries if str(e.version) == str(version) and e.route == route), None)


def _interval(estimate) -> Interval:
    return Interval(estimate.value, estimate.low, estimate.high)
