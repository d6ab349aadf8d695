"""Where the rollout meets the server and the outcomes: the routing file (serving/routing.py) and online quality
(monitoring/online.py), read into the plain numbers rollout/rules.py decides on."""

import os

from rollout.rules import Interval, Quality
from serving import routing

ROUTING_FILE = routing.FILE_NAME  # <serving dir>/routing.json, next to models.config
RoutingFileError = routing.RoutingError


def read_routes(path: str) -> dict[str, dict[str, float]]:
    """Model -> {canary_weight, shadow_sample} of the routing file (no file: none); RoutingError if it is bad."""
    return {name: route.model_dump() for name, route in routing.read(path).models.items()}


def write_route(path: str, model: str, canary_weight: float, shadow_sample: float) -> None:
    """Sets one model's entry (other models' entries are kept), atomically (serving.routing.write).

    A model keeps its entry at weight 0 once a rollout ends, so that name-only requests keep going to the `stable`
    label rather than to the newest loaded version."""
    config = routing.read(path)
    config.models[model] = routing.ModelRoute(canary_weight=canary_weight, shadow_sample=shadow_sample)
    routing.write(path, config)


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
