"""The pushed model against a gradient-boosted baseline on the same rows: is the DNN that `kfx run` trained from a
configuration (written by `kfx init`, say) as good as boosted trees on the same features?

    python -m bench.gb_compare --config FILE --workspace DIR [--json OUT]

Reads the latest run's train and eval splits (WindowExampleGen's tf.Examples, the rows the Trainer and the Evaluator
saw), trains scikit-learn's HistGradientBoostingClassifier on the train rows with the configuration's features
(numbers as they are, categoricals as category codes, missing cells left to the trees) and the label the
configuration's rule gives, scores the eval rows with it and with the newest pushed model's `from_examples`
signature, and prints both AUCs and their paired difference with DeLong's 95% interval (the rows are the same).
"""

import argparse
import glob
import json
import os

import numpy as np
import pandas as pd

from components.champion_evaluator import delong
from pipeline import config as config_lib

_MAX_CATEGORIES = 250  # HistGradientBoosting takes at most 255 categories per feature


def _examples(workspace: str, split: str) -> list[bytes]:
    """Serialized tf.Examples of the newest WindowExampleGen output's split."""
    import tensorflow as tf  # noqa: PLC0415

    root = os.path.join(workspace, "pipeline_root", "WindowExampleGen", "examples")
    newest = max(os.listdir(root), key=int)
    files = sorted(glob.glob(os.path.join(root, newest, f"Split-{split}", "*.gz")))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _frame(serialized: list[bytes]) -> pd.DataFrame:
    """The rows' features as a frame: one value per cell, NaN where absent."""
    import tensorflow as tf  # noqa: PLC0415

    rows = []
    for record in serialized:
        example = tf.train.Example.FromString(record)
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            if values:
                value = values[0]
                row[name] = value.decode() if isinstance(value, bytes) else value
        rows.append(row)
    return pd.DataFrame(rows)


def _labels(frame: pd.DataFrame, config: config_lib.PipelineConfig) -> np.ndarray:
    """The configuration's label rule on the rows (those left out by it never reach the splits)."""
    rule = config.features.label
    if rule.greater_than is not None:
        scale = frame[rule.times].astype(float) if rule.times else 1.0
        return (frame[rule.column].astype(float) > rule.greater_than * scale).to_numpy(int)
    fold = rule.fold if rule.fold_case else str
    positive = {fold(value) for value in rule.one_of}
    return frame[rule.column].map(lambda value: fold(str(value)) in positive).to_numpy(int)


def _matrix(frame: pd.DataFrame, config: config_lib.PipelineConfig) -> pd.DataFrame:
    spec = config.features
    columns = {}
    for column in spec.numeric + spec.bucketized:
        columns[column] = pd.to_numeric(frame.get(column), errors="coerce")
    for column in spec.categorical:
        columns[column] = frame.get(column, pd.Series(index=frame.index, dtype=object)).astype(str).astype("category")
    return pd.DataFrame(columns, index=frame.index)


def _model_scores(workspace: str, model_name: str, serialized: list[bytes]) -> np.ndarray:
    import tensorflow as tf  # noqa: PLC0415

    from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE, SCORE_OUTPUT  # noqa: PLC0415

    root = os.path.join(workspace, "serving_model", model_name)
    newest = max((name for name in os.listdir(root) if name.isdigit()), key=int)
    signature = tf.saved_model.load(os.path.join(root, newest)).signatures[EXAMPLES_SIGNATURE]
    scores = []
    for start in range(0, len(serialized), 1024):
        batch = tf.constant(serialized[start : start + 1024])
        scores.append(signature(**{EXAMPLES_INPUT: batch})[SCORE_OUTPUT].numpy().reshape(-1))
    return np.concatenate(scores)


def compare(config_path: str, workspace: str) -> dict:
    """Both models' eval AUCs and the paired difference (pushed model - boosted trees) with DeLong's 95% interval."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415

    config = config_lib.load(config_path)
    train_serialized, eval_serialized = _examples(workspace, "train"), _examples(workspace, "eval")
    train, held = _frame(train_serialized), _frame(eval_serialized)
    categorical = [column in config.features.categorical for column in config.features.raw_features]
    trees = HistGradientBoostingClassifier(categorical_features=categorical, random_state=0, early_stopping=True)
    x_train, x_eval = _matrix(train, config), _matrix(held, config)
    for column in config.features.categorical:  # the train split's 250 commonest values (the trees' limit), others NaN
        categories = list(x_train[column].value_counts().index[:_MAX_CATEGORIES])
        x_train[column] = x_train[column].cat.set_categories(categories)
        x_eval[column] = x_eval[column].cat.set_categories(categories)
    trees.fit(x_train, _labels(train, config))
    labels = _labels(held, config)
    paired = delong.paired_auc(
        labels,
        _model_scores(workspace, config.serving.model_name, eval_serialized),
        trees.predict_proba(x_eval)[:, 1],
    )
    half = delong.z_score(0.95) * paired.std_error
    return {
        "config": config_path,
        "train_rows": len(train),
        "eval_rows": len(held),
        "pushed_auc": round(paired.candidate, 4),
        "boosted_trees_auc": round(paired.baseline, 4),
        "difference": round(paired.difference, 4),
        "difference_ci95": [round(paired.difference - half, 4), round(paired.difference + half, 4)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    result = compare(args.config, args.workspace)
    print(
        f"{os.path.basename(args.config)}: pushed model AUC {result['pushed_auc']:.4f}, boosted trees "
        f"{result['boosted_trees_auc']:.4f}, difference {result['difference']:+.4f} "
        f"[{result['difference_ci95'][0]:+.4f}, {result['difference_ci95'][1]:+.4f}] "
        f"on {result['eval_rows']:,} eval rows"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
