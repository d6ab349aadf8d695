"""What tuning costs and what it buys: a cold `kfx run` with the shipped configuration (hand-set hyperparameters) and
one with a search before training, on the shipped data, each in a fresh workspace.

The search: the space of the commented `tuning:` example in configs/chicago_taxi.yaml (learning rate, hidden units,
dropout, embedding size, batch size), BENCH_TUNING_ALGORITHM (default random), BENCH_TUNING_TRIALS trials (default
6) of BENCH_TUNING_STEPS steps (default 300), within BENCH_TUNING_SECONDS (default 600). Both runs split the same
rows the same way (hash buckets), so both trained models score the same eval rows: their AUCs and the paired
difference (tuned - default) with DeLong's 95% interval (components/champion_evaluator/delong.paired_auc).
    python -m bench.tuning_bench
Results: workspace/bench/tuning.json and tuning.md.
"""

import glob
import json
import os
import sys
import tempfile

import numpy as np
import yaml

from bench import component_times, gb_compare, results, scale_report
from bench.pipeline_bench import measure
from components.champion_evaluator import delong
from pipeline import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "chicago_taxi.yaml")
SPACE = {
    "learning_rate": [0.0003, 0.01],
    "hidden_units": [[128, 64], [256, 128], [64]],
    "dropout": [0.0, 0.4],
    "embedding_dim": [4, 8, 16],
    "batch_size": [128, 256, 512],
}


def tuning_section() -> dict:
    return {
        "enabled": True,
        "algorithm": os.environ.get("BENCH_TUNING_ALGORITHM", "random"),
        "trials": int(os.environ.get("BENCH_TUNING_TRIALS", "6")),
        "max_seconds": int(os.environ.get("BENCH_TUNING_SECONDS", "600")),
        "train_steps": int(os.environ.get("BENCH_TUNING_STEPS", "300")),
        "space": SPACE,
    }


def _config_with_tuning(scratch: str) -> str:
    """The shipped configuration with the search switched on, its relative paths made absolute."""
    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    configs = os.path.dirname(CONFIG)
    raw["data"].update(
        path=os.path.join(configs, raw["data"]["path"]), schema=os.path.join(configs, raw["data"]["schema"])
    )
    raw["tuning"] = tuning_section()
    path = os.path.join(scratch, "tuned.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(raw, f)
    return path


def _cold_run(config: str, workspace: str) -> dict:
    measured = measure([sys.executable, "-m", "kfx.cli", "run", "--config", config, "--workspace", workspace])
    measured["components"] = component_times.component_seconds(
        os.path.join(workspace, "metadata.sqlite"), scale_report.PIPELINE_NAME
    )
    return {**measured, **scale_report.run_figures(workspace)}


def _trained_model(workspace: str) -> str:
    root = os.path.join(workspace, "pipeline_root", "Trainer", "model")
    return os.path.join(root, max(os.listdir(root), key=int), "Format-Serving")


def _scores(model_dir: str, serialized: list[bytes]) -> np.ndarray:
    import tensorflow as tf

    from models.signatures import EXAMPLES_INPUT, EXAMPLES_SIGNATURE, SCORE_OUTPUT

    signature = tf.saved_model.load(model_dir).signatures[EXAMPLES_SIGNATURE]
    batches = [serialized[start : start + 1024] for start in range(0, len(serialized), 1024)]
    return np.concatenate(
        [signature(**{EXAMPLES_INPUT: tf.constant(b)})[SCORE_OUTPUT].numpy().reshape(-1) for b in batches]
    )


def _search(workspace: str) -> dict:
    """Trials run and the best values, from the Tuner's outputs."""
    (results_file,) = glob.glob(os.path.join(workspace, "pipeline_root", "Tuner", "tuner_results", "*", "*.json"))
    (best_file,) = glob.glob(os.path.join(workspace, "pipeline_root", "Tuner", "best_hyperparameters", "*", "*.txt"))
    with open(results_file) as f:
        trials = json.load(f)
    with open(best_file) as f:
        best = json.load(f)["values"]
    return {"trials": len(trials), "best": best, "trial_scores": sorted(round(t["score"], 4) for t in trials)}


def compare(default_workspace: str, tuned_workspace: str) -> dict:
    """Both trained models on the same eval rows (the default run's eval split; the tuned run's is the same rows)."""
    config = config_lib.load(CONFIG)
    serialized = gb_compare._examples(default_workspace, "eval")
    if sorted(serialized) != sorted(gb_compare._examples(tuned_workspace, "eval")):
        raise RuntimeError("the two runs' eval rows differ; their splits should be the same")
    labels = gb_compare._labels(gb_compare._frame(serialized), config)
    paired = delong.paired_auc(
        labels,
        _scores(_trained_model(tuned_workspace), serialized),
        _scores(_trained_model(default_workspace), serialized),
    )
    half = delong.z_score(0.95) * paired.std_error
    return {
        "eval_rows": len(serialized),
        "tuned_auc": round(paired.candidate, 4),
        "default_auc": round(paired.baseline, 4),
        "difference": round(paired.difference, 4),
        "difference_ci95": [round(paired.difference - half, 4), round(paired.difference + half, 4)],
    }


def report(result: dict) -> str:
    tuned, default, auc = result["tuned_run"], result["default_run"], result["auc"]
    tuner = tuned["components"].get("Tuner", 0.0)
    budget = result["budget"]
    return (
        "# Tuning: cost and gain (bench/tuning_bench.py)\n\n"
        f"Shipped data, {auc['eval_rows']:,} eval rows. Search: {budget['algorithm']}, at most {budget['trials']} "
        f"trials of {budget['train_steps']} steps within {budget['max_seconds']} s.\n\n"
        "| run | wall s | Tuner s | Trainer s | trials | eval AUC |\n|---|---|---|---|---|---|\n"
        f"| default (hand-set) | {default['seconds']} | - | {default['components'].get('Trainer', 0):.1f} | - | "
        f"{auc['default_auc']} |\n"
        f"| tuned | {tuned['seconds']} | {tuner:.1f} | {tuned['components'].get('Trainer', 0):.1f} | "
        f"{result['search']['trials']} | {auc['tuned_auc']} |\n\n"
        f"AUC tuned - default on the same rows: {auc['difference']:+.4f}, 95% CI "
        f"[{auc['difference_ci95'][0]:+.4f}, {auc['difference_ci95'][1]:+.4f}] (paired DeLong).\n"
        f"Best values: {json.dumps(result['search']['best'])}\n"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tuning-bench-") as scratch:
        tuned_config = _config_with_tuning(scratch)
        default_workspace, tuned_workspace = os.path.join(scratch, "default"), os.path.join(scratch, "tuned")
        default_run = _cold_run(CONFIG, default_workspace)
        print(f"default run: {default_run['seconds']} s", flush=True)
        tuned_run = _cold_run(tuned_config, tuned_workspace)
        print(f"tuned run: {tuned_run['seconds']} s", flush=True)
        result = {
            "budget": tuning_section(),
            "default_run": default_run,
            "tuned_run": tuned_run,
            "search": _search(tuned_workspace),
            "auc": compare(default_workspace, tuned_workspace),
        }
    results.write("tuning", result, report(result))


if __name__ == "__main__":
    main()
