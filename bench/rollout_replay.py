"""Replays `kfx rollout step`'s quality rule on real models and real outcomes; README ("Rollout") quotes the table
this prints (and writes to workspace/bench/rollout_replay.md/.json).

The models: the pipeline itself (`kfx run --span 2`, spans 1-2 of the shipped data) trains the stable model with
the shipped configuration and one candidate per case: another seed, fewer training steps, an input left out. The
traffic: every row of spans 3 and 4, which no model saw, with its real label (the configuration's label rule).
The truth of a case: the candidate's AUC minus the stable model's on all of those rows (paired DeLong interval).
An experienced engineer promotes a candidate that is not worse by more than half the margin, rolls back one worse by
more than twice the margin, and could go either way in between.

Each replay draws a stream of requests from the traffic (with replacement), as a canary at rollout.canary_weight
(each canary request has (1 - w) / w stable requests beside it; AUCs compared unpaired) or as a shadow (the same
requests; paired), and runs `rollout.rules.check_quality` on the outcomes gathered so far every STEP_LABELS
candidate outcomes, as a cron'd `kfx rollout step` would, until it promotes or rolls back (max_labelled forces a
rollback). Reported per case and mode: the share of replays that promoted / rolled back and the median number of
candidate outcomes the decision took.

Usage: python -m bench.rollout_replay   (trains 6 models once into workspace/bench/rollout_replay/, then replays;
about 15 minutes on two cores the first time, 2 minutes after)
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import yaml

from bench import results
from monitoring import online_stats, store
from pipeline import config as config_lib
from pipeline import data as data_lib
from rollout import rules

CONFIG = os.path.join(results.REPO, "configs", "chicago_taxi.yaml")
WORKSPACE = os.path.join(results.OUTPUT_DIR, "rollout_replay")
TRAIN_SPAN, TRAFFIC_SPANS = 2, (3, 4)
REPLAYS, STEP_LABELS, SEED = 20, 500, 20261205


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    train_steps: int | None = None  # None: the configuration's
    seed: int | None = None
    drop: str | None = None  # a categorical input left out


CASES = (
    Case("stable: the shipped configuration"),
    Case("another seed", seed=7),
    Case("100 training steps", train_steps=100),
    Case("30 training steps", train_steps=30),
    Case("without the company input", drop="company"),
    Case("without the payment_type input", drop="payment_type"),
    Case("5 training steps", train_steps=5),
)


def _case_config(case: Case, folder: str) -> str:
    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    here = os.path.dirname(CONFIG)
    raw["data"]["path"] = os.path.join(here, raw["data"]["path"])
    raw["data"]["schema"] = os.path.join(here, raw["data"]["schema"])
    if case.seed is not None:
        raw["training"]["seed"] = case.seed
    if case.drop:
        raw["features"]["categorical"].remove(case.drop)
        raw["evaluation"]["slices"] = [s for s in raw["evaluation"]["slices"] if s != case.drop]
    path = os.path.join(folder, f"config-{CASES.index(case)}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(raw, f)
    return path


def train(case: Case) -> str:
    """The Format-Serving folder of the model `kfx run --span 2` trains for the case (trained once, then reused)."""
    os.makedirs(WORKSPACE, exist_ok=True)
    config = _case_config(case, WORKSPACE)
    trained = os.path.join(WORKSPACE, "models.json")
    known = {}
    if os.path.exists(trained):
        with open(trained) as f:
            known = json.load(f)
    if os.path.isdir(known.get(case.name, "")):
        return known[case.name]
    command = [os.path.join(os.path.dirname(sys.executable), "kfx"), "run", "--config", config,
               "--span", str(TRAIN_SPAN), "--workspace", os.path.join(WORKSPACE, "ws")]  # fmt: skip
    if case.train_steps is not None:
        command += ["--train-steps", str(case.train_steps)]
    done = subprocess.run(command, cwd=results.REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{case.name}: kfx run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    metadata = store.connect(os.path.join(WORKSPACE, "ws", "metadata.sqlite"))
    run = store.latest_run(metadata, config_lib.load(config).pipeline_name)
    known[case.name] = os.path.join(run.output("Trainer", "model").uri, "Format-Serving")
    with open(trained, "w") as f:
        json.dump(known, f, indent=2)
    return known[case.name]


def traffic(config: config_lib.PipelineConfig) -> tuple[list[dict], np.ndarray]:
    """The rows of the traffic spans that have a label, and their labels (the configuration's rule)."""
    rows, labels = [], []
    rule = data_lib.rules_of(config)
    for span in TRAFFIC_SPANS:
        with open(os.path.join(config.data.path, f"span-{span}", "data.csv"), newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            body = list(reader)
        for values, label in zip(body, rule.labels(header, list(enumerate(body))), strict=True):
            if isinstance(label, bool):  # not missing, nor a value in neither class
                rows.append(dict(zip(header, values, strict=True)))
                labels.append(float(label))
    return rows, np.array(labels)


def scores(model_dir: str, rows: list[dict], missing: list[str]) -> np.ndarray:
    """The model's serving_default scores for the rows, as the server computes them."""
    import tensorflow as tf

    from serving import request_rows

    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    dtypes = {
        name: np.dtype(spec.dtype.as_numpy_dtype) for name, spec in signature.structured_input_signature[1].items()
    }
    found = []
    for start in range(0, len(rows), 1000):
        columns = request_rows.to_columns(rows[start : start + 1000], dtypes, "traffic", start, missing)
        found.append(signature(**{k: tf.constant(v) for k, v in columns.items()})["score"].numpy().reshape(-1))
    return np.concatenate(found)


def _quality(labels_c, scores_c, labels_s, scores_s, paired: bool, confidence: float) -> rules.Quality:
    if paired:
        difference = online_stats.auc_difference_paired(labels_c, scores_c, scores_s, confidence)
    else:
        difference = online_stats.auc_difference_unpaired((labels_c, scores_c), (labels_s, scores_s), confidence)
    interval = rules.Interval(difference.value, difference.low, difference.high)
    return rules.Quality("auc", rules.Interval(None), rules.Interval(None), interval, len(labels_c), len(labels_s),
                         paired, difference.reason or "")  # fmt: skip


def replay(labels, stable, candidate, paired: bool, settings, rng) -> tuple[str, int]:
    """(promote | rollback | none, candidate outcomes at the decision) for one stream of requests."""
    per_canary = 1 if paired else (1 - settings.canary_weight) / settings.canary_weight
    n_stable = int(settings.max_labelled * per_canary) + 1
    drawn_c = rng.integers(0, len(labels), settings.max_labelled)
    drawn_s = drawn_c if paired else rng.integers(0, len(labels), n_stable)
    for n in range(STEP_LABELS, settings.max_labelled + 1, STEP_LABELS):
        c, s = drawn_c[:n], drawn_s[: int(n * per_canary)]
        quality = _quality(labels[c], candidate[c], labels[s], stable[s], paired, settings.confidence)
        evidence = rules.Evidence("replay", "shadow" if paired else "canary", 2, 1, None, None, quality, None)
        check = rules.check_quality(evidence, settings)
        if check.status == "ok":
            return "promote", n
        if check.status == "rollback":
            return "rollback", n
    return "none", settings.max_labelled


def expected(truth: float, margin: float) -> str:
    if truth >= -margin / 2:
        return "promote"
    if truth <= -2 * margin:
        return "rollback"
    return "either"


def main() -> int:
    config = config_lib.load(CONFIG)
    settings = config.rollout
    rows, labels = traffic(config)
    models = {case.name: train(case) for case in CASES}
    missing = [str(value) for value in config.data.missing_values]
    found = {name: scores(path, rows, missing) for name, path in models.items()}
    stable = found.pop(CASES[0].name)
    rng = np.random.default_rng(SEED)
    table, records, wrong = [], [], []
    for name, candidate in found.items():
        truth = online_stats.auc_difference_paired(labels, candidate, stable, settings.confidence)
        wanted = expected(truth.value, settings.margin)
        for mode, paired in (("canary", False), ("shadow", True)):
            outcomes = [replay(labels, stable, candidate, paired, settings, rng) for _ in range(REPLAYS)]
            shares = {a: sum(o == a for o, _ in outcomes) / REPLAYS for a in ("promote", "rollback", "none")}
            median = int(np.median([n for _, n in outcomes]))
            record = dict(case=name, mode=mode, truth=dataclasses.asdict(truth), expected=wanted, shares=shares,
                          median_labelled=median)  # fmt: skip
            records.append(record)
            if wanted != "either" and shares[wanted] < 0.9:
                wrong.append(record)
            table.append(
                f"| {name} | {truth.value:+.4f} [{truth.low:+.4f}, {truth.high:+.4f}] | {wanted} | {mode} | "
                f"{shares['promote']:.0%} | {shares['rollback']:.0%} | {median:,} |"
            )
    report = "\n".join([
        "## Rollout quality rule replayed on real models and outcomes (bench/rollout_replay.py)", "",
        f"Stable model and candidates trained by `kfx run --span {TRAIN_SPAN}`; traffic: the {len(labels):,} "
        f"labelled rows of spans {', '.join(map(str, TRAFFIC_SPANS))}; truth: candidate - stable AUC on all of them "
        f"(paired DeLong, {settings.confidence:.0%}). Rules: margin {settings.margin}, min_labelled "
        f"{settings.min_labelled:,}, max_labelled {settings.max_labelled:,}, canary weight "
        f"{settings.canary_weight:.0%}; a step every {STEP_LABELS} candidate outcomes; {REPLAYS} replays each.", "",
        "| candidate | truth: AUC difference [CI] | engineer | mode | promoted | rolled back | median outcomes |",
        "|---|---|---|---|---|---|---|", *table, "",
    ])  # fmt: skip
    for record in wrong:
        report += f"\nNOT AS EXPECTED: {record['case']} ({record['mode']}): {record['shares']}"
    results.write("rollout_replay", {"cases": records}, report)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
