"""Online quality: the served versions' predictions joined with the outcomes that arrived later.

Each request log entry (request_logs.py) names the version that answered, the route (stable, canary, shadow, direct,
latest), the request id and the time; row i of request R is joined with the outcome stored for (R, i) by
`kfx feedback` (feedback/store.py writes the `outcomes` table, read here read-only). Per (version, route) over a
window, online_stats.py gives the AUC, the log loss, the predicted and the observed rate (calibration) and the
positive rate, each with an interval; and two comparisons with the `stable` version(s) of the window:
- canary vs stable, unpaired (each request went to one of them): the stable rows of the canary's time span only,
  so both saw the same period;
- shadow vs stable, paired on the same (request id, row), which both answered.

Window: `since` keeps the entries logged at or after that time (seconds since the epoch); `last` keeps the last N
labelled predictions of each (version, route), and the last N pairs of a paired comparison. `predictions` and
`positive_rate` count every prediction of the `since` window, labelled or not; the rest only the labelled ones.
A (request id, row) logged twice for the same (version, route), a retry, counts once.
"""

import collections
import dataclasses
import datetime
import itertools
import json
import os
import pathlib
import sqlite3
from typing import Any

import numpy as np

from monitoring import online_stats, request_logs
from monitoring.online_stats import Estimate

STABLE, CANARY, SHADOW = "stable", "canary", "shadow"
ROUTES = (STABLE, CANARY, SHADOW, "direct", "latest", "")  # report order; "": logs written before routes existed
POSITIVE_THRESHOLD = 0.5  # a score at or above it is a positive prediction (positive_rate)
AUC, LOG_LOSS = "auc", "log_loss"
HIGHER_IS_BETTER = {AUC: True, LOG_LOSS: False}  # how to read a comparison's difference (candidate - baseline)


@dataclasses.dataclass
class VersionQuality:
    """One (version, route) over the window."""

    model: str
    version: str
    route: str
    predictions: int  # rows logged in the window, labelled or not
    labelled: int  # of those, rows with an outcome (after `last`)
    positives: int  # labelled rows whose outcome is 1
    first: int | None  # time of the first and the last labelled prediction used, seconds since the epoch
    last: int | None
    auc: Estimate
    log_loss: Estimate
    predicted_rate: Estimate  # mean score of the labelled rows
    observed_rate: Estimate  # share of labelled rows whose outcome is 1 (Wilson)
    positive_rate: Estimate  # share of all predictions with a score >= 0.5 (Wilson)


@dataclasses.dataclass
class Comparison:
    """Candidate minus baseline on one measure: canary vs stable unpaired, shadow vs stable paired."""

    candidate_version: str
    candidate_route: str
    baseline_version: str
    paired: bool
    measure: str  # auc or log_loss
    difference: Estimate
    n: int  # labelled candidate rows used (pairs when paired)
    baseline_n: int  # labelled baseline rows used (the same pairs when paired)


@dataclasses.dataclass
class OnlineReport:
    """What `measure` found for one model."""

    model: str
    logs: str
    files: list[str]
    outcomes: str  # the outcome store read
    outcomes_stored: int  # outcomes in it, of any model (0: no store yet)
    created: str
    since: float | None
    last: int | None
    confidence: float
    versions: list[VersionQuality]
    comparisons: list[Comparison]
    ignored: dict[str, int]  # entries not measured: other models, log types without scores

    def version(self, version: str, route: str) -> VersionQuality | None:
        """The entry of a (version, route), if it answered in the window."""
        return next((v for v in self.versions if v.version == str(version) and v.route == route), None)

    def comparison(
        self, candidate_version: str, measure: str, baseline_version: str | None = None
    ) -> Comparison | None:
        """The comparison of a candidate version with stable (the given stable version, else the first) on a
        measure (AUC or LOG_LOSS), if both answered in the window."""
        return next(
            (
                c
                for c in self.comparisons
                if c.candidate_version == str(candidate_version)
                and c.measure == measure
                and (baseline_version is None or c.baseline_version == str(baseline_version))
            ),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (None for values not computed, never NaN)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)


@dataclasses.dataclass
class _Rows:
    """One (version, route)'s unique predictions: key -> (time, score, label or None)."""

    by_key: dict[tuple[str, int], tuple[int, float, int | None]] = dataclasses.field(default_factory=dict)
    anonymous: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # rows of entries without an id

    def labelled(self, last: int | None) -> list[tuple[tuple[str, int], int, float, int]]:
        """(key, time, score, label) of the labelled rows, oldest first, the last `last` of them."""
        rows = sorted((t, key, s, y) for key, (t, s, y) in self.by_key.items() if y is not None)
        rows = rows[-last:] if last else rows
        return [(key, t, s, y) for t, key, s, y in rows]

    def scores(self) -> np.ndarray:
        return np.array([s for _, s, _ in self.by_key.values()] + [s for _, s in self.anonymous], np.float64)


def load_outcomes(path: str) -> dict[tuple[str, int], int]:
    """(request id, row) -> label from the outcome store; empty when there is no store yet."""
    if not os.path.exists(path):
        return {}
    try:
        connection = sqlite3.connect(pathlib.Path(os.path.abspath(path)).as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute("SELECT request_id, row, label FROM outcomes")
            return {(request_id, row): label for request_id, row, label in rows}
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise OSError(f"cannot read the outcome store {path}: {error}") from None


def _group(
    entries: list[request_logs.Entry], model: str, outcomes: dict, since: float | None
) -> tuple[dict[tuple[str, str], _Rows], dict[str, int]]:
    groups: dict[tuple[str, str], _Rows] = collections.defaultdict(_Rows)
    ignored: collections.Counter = collections.Counter()
    for entry in entries:
        if entry.model != model:
            ignored[f"model {entry.model}"] += 1
            continue
        if since is not None and entry.timestamp < since:
            continue
        rows = groups[(entry.version, entry.route)]
        finite = np.isfinite(entry.scores)
        if not finite.all():  # a model answering NaN: those rows cannot be measured
            ignored["rows whose score is not a finite number"] += int((~finite).sum())
        if not entry.request_id:
            ignored["entries without a request id (predictions counted, never labelled)"] += 1
            rows.anonymous += [(entry.timestamp, float(s)) for s, ok in zip(entry.scores, finite, strict=True) if ok]
            continue
        for row, score in enumerate(entry.scores):
            key = (entry.request_id, row)
            if finite[row]:
                rows.by_key[key] = (entry.timestamp, float(score), outcomes.get(key))
    return dict(groups), dict(ignored)


def _quality(model: str, version: str, route: str, rows: _Rows, last: int | None, confidence: float) -> VersionQuality:
    labelled = rows.labelled(last)
    labels = np.array([y for *_, y in labelled], np.float64)
    scores = np.array([s for _, _, s, _ in labelled], np.float64)
    every_score = rows.scores()
    positives = int(labels.sum())
    no_labels = online_stats.unavailable("no labelled predictions")
    return VersionQuality(
        model=model,
        version=version,
        route=route,
        predictions=len(every_score),
        labelled=len(labelled),
        positives=positives,
        first=labelled[0][1] if labelled else None,
        last=labelled[-1][1] if labelled else None,
        auc=online_stats.auc(labels, scores, confidence) if labelled else no_labels,
        log_loss=online_stats.log_loss(labels, scores, confidence) if labelled else no_labels,
        predicted_rate=online_stats.mean(scores, confidence, 0.0, 1.0),
        observed_rate=online_stats.wilson(positives, len(labelled), confidence) if labelled else no_labels,
        positive_rate=online_stats.wilson(int((every_score >= POSITIVE_THRESHOLD).sum()), len(every_score), confidence),
    )


def _unpaired(candidate: _Rows, baseline: _Rows, last: int | None, confidence: float):
    """Canary vs stable: the baseline's labelled rows within the candidate's time span."""
    rows = candidate.labelled(last)
    if not rows:
        return 0, 0, {m: online_stats.unavailable("no labelled candidate predictions") for m in (AUC, LOG_LOSS)}
    start, end = rows[0][1], rows[-1][1]
    base = [r for r in baseline.labelled(None) if start <= r[1] <= end]
    base = base[-last:] if last else base
    arrays = [(np.array([r[3] for r in found], np.float64), np.array([r[2] for r in found])) for found in (rows, base)]
    if not base:
        return len(rows), 0, {m: online_stats.unavailable("no labelled stable predictions in the canary's time span")
                               for m in (AUC, LOG_LOSS)}  # fmt: skip
    return (
        len(rows),
        len(base),
        {
            AUC: online_stats.auc_difference_unpaired(arrays[0], arrays[1], confidence),
            LOG_LOSS: online_stats.log_loss_difference_unpaired(arrays[0], arrays[1], confidence),
        },
    )


def _paired(candidate: _Rows, baseline: _Rows, last: int | None, confidence: float):
    """Shadow vs stable: the (request id, row) both answered and that have an outcome."""
    pairs = sorted(
        (baseline.by_key[key][0], key) for key, (_, _, label) in candidate.by_key.items()
        if label is not None and key in baseline.by_key
    )  # fmt: skip
    pairs = pairs[-last:] if last else pairs
    labels = np.array([candidate.by_key[key][2] for _, key in pairs], np.float64)
    scores_c = np.array([candidate.by_key[key][1] for _, key in pairs], np.float64)
    scores_b = np.array([baseline.by_key[key][1] for _, key in pairs], np.float64)
    if not pairs:
        return 0, 0, {m: online_stats.unavailable("no labelled request answered by both") for m in (AUC, LOG_LOSS)}
    return (
        len(pairs),
        len(pairs),
        {
            AUC: online_stats.auc_difference_paired(labels, scores_c, scores_b, confidence),
            LOG_LOSS: online_stats.log_loss_difference_paired(labels, scores_c, scores_b, confidence),
        },
    )


def _comparisons(groups: dict[tuple[str, str], _Rows], last: int | None, confidence: float) -> list[Comparison]:
    found = []
    stables = sorted((v for v, r in groups if r == STABLE), key=int)
    for version, route in sorted(groups, key=_order):
        if route not in (CANARY, SHADOW):
            continue
        rows, compare, mine = groups[(version, route)], _paired if route == SHADOW else _unpaired, []
        for baseline in (b for b in stables if b != version):  # a version is never its own baseline
            n, baseline_n, differences = compare(rows, groups[(baseline, STABLE)], last, confidence)
            mine.append([Comparison(version, route, baseline, route == SHADOW, measure, difference, n, baseline_n)
                         for measure, difference in differences.items()])  # fmt: skip
        overlapping = [comparisons for comparisons in mine if comparisons[0].baseline_n]
        # Only the stable versions that answered beside it; if none did, every one, with the reason.
        found.extend(itertools.chain.from_iterable(overlapping or mine))
    return found


def _order(key: tuple[str, str]) -> tuple[int, int]:
    version, route = key
    return ROUTES.index(route) if route in ROUTES else len(ROUTES), int(version)


def measure(
    logs: str,
    outcomes_path: str,
    model: str,
    *,
    since: float | None = None,
    last: int | None = None,
    confidence: float = 0.95,
) -> OnlineReport:
    """Online quality of `model` per (version, route) from the request logs at `logs` (a folder or filename_prefix)
    and the outcome store at `outcomes_path`. LogError when there are no readable logs; OSError when the store
    cannot be read. A missing store means no outcomes yet: every quality value is then None with the reason."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    if last is not None and last < 1:
        raise ValueError(f"last must be at least 1, got {last}")
    files = request_logs.log_files(logs)
    entries, skipped = request_logs.entries(files)
    outcomes = load_outcomes(outcomes_path)
    groups, ignored = _group(entries, model, outcomes, since)
    ignored.update({f"{kind} (no scores)": count for kind, count in skipped.items()})
    order = sorted(groups, key=_order)
    return OnlineReport(
        model=model,
        logs=request_logs.absolute(logs),
        files=files,
        outcomes=os.path.abspath(outcomes_path),
        outcomes_stored=len(outcomes),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        since=since,
        last=last,
        confidence=confidence,
        versions=[_quality(model, v, r, groups[(v, r)], last, confidence) for v, r in order],
        comparisons=_comparisons(groups, last, confidence),
        ignored=ignored,
    )
