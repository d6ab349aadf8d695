"""A quick gradient-boosted baseline on a sample: what AUC the data supports, in a second or two.

scikit-learn's HistGradientBoostingClassifier on the sample's features (numbers as they are, categoricals as the codes
of their most common values, missing cells left to the trees), trained on a deterministic hash split of the rows (the
pipeline's 80/20: a row's cells hashed, one bucket of five held out), scored on the held-out rows: AUC with DeLong's
confidence interval, and the majority-class rate there (the accuracy a constant model gets). Each feature is also
scored alone (`alone_aucs`): one that predicts the label almost perfectly by itself is usually a leak (a value
recorded after the outcome, such as a cause of death or a test's own measurement).
"""

import dataclasses
import hashlib
import math

import numpy as np
import pandas as pd
import threadpoolctl

from components.champion_evaluator import delong
from components.drift_gate import measures

EVAL_BUCKETS, ALL_BUCKETS = 1, 5  # data.split train: 4, eval: 1
MAX_CATEGORIES = 250  # HistGradientBoosting's limit is 255 categories per feature; the rest read as missing
MIN_CLASS_ROWS = 5  # fewer held-out rows of either class: no baseline


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The held-out AUC of the quick model, its confidence interval, the majority-class rate and the accuracy."""

    auc: float
    low: float
    high: float
    confidence: float
    majority_rate: float
    accuracy: float  # at a 0.5 cut-off
    accuracy_high: float  # the high end of its Wilson interval
    train_rows: int
    eval_rows: int

    def describe(self) -> str:
        """E.g. "AUC 0.871 [0.852, 0.890] on 1,204 held-out rows (majority class 61.2%)"."""
        return (
            f"AUC {self.auc:.3f} [{self.low:.3f}, {self.high:.3f}] on {self.eval_rows:,} held-out rows "
            f"(majority class {self.majority_rate:.1%})"
        )


def held_out(frame: pd.DataFrame) -> np.ndarray:
    """True for the rows of the eval split: the md5 of a row's cells, in one of five buckets."""
    joined = frame.astype(object).where(frame.notna(), "").astype(str).agg("\x1f".join, axis=1)
    buckets = [int(hashlib.md5(row.encode()).hexdigest()[:8], 16) % ALL_BUCKETS for row in joined]
    return np.asarray(buckets) < EVAL_BUCKETS


def quick_baseline(
    frame: pd.DataFrame,
    labels: pd.Series,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    confidence: float = 0.95,
    seed: int = 0,
) -> Baseline | None:
    """The baseline on `frame`'s rows with a label (`labels`: 1.0, 0.0 or NaN); None when the held-out rows have
    fewer than MIN_CLASS_ROWS of a class or there are no features."""
    columns = list(numeric) + list(categorical)
    split = _split(frame, labels)
    if not columns or split is None:
        return None
    keep, y, is_eval = split
    scores = _fit_and_score(_matrix(frame[columns], categorical)[keep], y, is_eval, categorical, columns, seed, 200)
    y_eval = y[is_eval]
    auc, error = auc_with_error(y_eval, scores)
    half = delong.z_score(confidence) * error
    right = int(np.sum((scores >= 0.5) == y_eval))
    return Baseline(
        auc=auc,
        low=max(auc - half, 0.0),
        high=min(auc + half, 1.0),
        confidence=confidence,
        majority_rate=max(int((y_eval == c).sum()) for c in (0, 1)) / len(y_eval),
        accuracy=right / len(y_eval),
        accuracy_high=min(measures.wilson(right, len(y_eval), delong.z_score(confidence))[1], 1.0),
        train_rows=int((~is_eval).sum()),
        eval_rows=int(is_eval.sum()),
    )


def alone_aucs(
    frame: pd.DataFrame,
    labels: pd.Series,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Each feature's held-out AUC, and the low end of its DeLong interval, when it is the only input of a small
    boosted model (missing cells included, so a column present only for one class shows); empty when the held-out
    rows lack a class."""
    split = _split(frame, labels)
    if split is None:
        return {}
    keep, y, is_eval = split
    found = {}
    for column in (*numeric, *categorical):
        values = _matrix(frame[[column]], categorical)[keep]
        auc, error = auc_with_error(y[is_eval], _fit_and_score(values, y, is_eval, categorical, [column], seed, 20))
        found[column] = (auc, max(auc - delong.z_score(confidence) * error, 0.0))
    return found


def _split(frame: pd.DataFrame, labels: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(rows with a label, their labels, which of them are held out), or None when the held-out rows have fewer than
    MIN_CLASS_ROWS of a class or the train rows lack one."""
    keep = labels.notna().to_numpy()
    y = labels.to_numpy()[keep].astype(int)
    is_eval = held_out(frame)[keep]  # the whole row: label and columns left out too
    if min(int((y[is_eval] == c).sum()) for c in (0, 1)) < MIN_CLASS_ROWS or len(set(y[~is_eval])) < 2:
        return None
    return keep, y, is_eval


def _fit_and_score(
    features: np.ndarray,
    y: np.ndarray,
    is_eval: np.ndarray,
    categorical: tuple[str, ...],
    columns: list[str],
    seed: int,
    max_iter: int,
) -> np.ndarray:
    """Held-out scores of HistGradientBoosting trained on the other rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415 (only `kfx init` and --data need it)

    model = HistGradientBoostingClassifier(
        categorical_features=[column in categorical for column in columns],
        random_state=seed,
        max_iter=max_iter,
        early_stopping=True,  # sklearn stops early only above 10,000 rows by default: small samples overfit
    )
    # One OpenMP thread: on a busy machine (shared cores, a run going on) more threads spin-wait and take 2-5x longer.
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        model.fit(features[~is_eval], y[~is_eval])
        return model.predict_proba(features[is_eval])[:, 1]


def auc_with_error(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The AUC (ties counted half) and DeLong's standard error of it (components/champion_evaluator/delong.py)."""
    positive = labels > 0.5
    x, y = scores[positive], scores[~positive]
    m, n = len(x), len(y)
    combined = delong.midranks(np.concatenate([x, y]))
    v10 = (combined[:m] - delong.midranks(x)) / n
    v01 = 1.0 - (combined[m:] - delong.midranks(y)) / m
    variance = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
    return float(v10.mean()), math.sqrt(max(float(variance), 0.0))


def _matrix(frame: pd.DataFrame, categorical: tuple[str, ...]) -> np.ndarray:
    """Numbers as floats (text NaN), each categorical as the rank of its value among its most common ones."""
    columns = []
    for column in frame.columns:
        values = frame[column]
        if column in categorical:
            common = values.value_counts().index[:MAX_CATEGORIES]
            codes = {value: float(code) for code, value in enumerate(sorted(common, key=str))}
            columns.append(values.map(codes).astype("float64").to_numpy())
        else:
            columns.append(pd.to_numeric(values, errors="coerce").astype("float64").to_numpy())
    return np.column_stack(columns)
