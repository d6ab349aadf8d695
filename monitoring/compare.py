"""Two runs, or two served versions, side by side: what `kfx compare A B` shows.

Each side is a run (its id as `kfx runs` lists it, or a unique prefix) or a pushed version (`v:<version>`: the run
that pushed it). For each: the outcome and blessing decision (runs.py, the Evaluator's comparison.json), the data
(spans, fingerprint, rows per split from StatisticsGen), the configuration file's text and sha256 and the git commit
`kfx run` recorded on the run, and the hyperparameters its Trainer used (hyperparameters.used, the one place that
knows). Between them: both models scored on eval rows (compare_scores.py: paired when the rows are the same), the
features whose statistics changed most (compare_data.py), the configuration diff, the hyperparameters that differ
and the commits between the two (`git log --oneline A..B`). Differences are always B - A.
"""

import dataclasses
import datetime
import difflib
import json
import os
import subprocess
from typing import Any

import yaml
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.champion_evaluator import properties as evaluator_properties
from monitoring import compare_data, compare_scores, comparison, hyperparameters, lineage
from monitoring import runs as runs_lib
from monitoring import store as store_lib

VERSION_PREFIX = "v:"
DEFAULT_CONFIDENCE = 0.95
_PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the git checkout of the code
NOT_RECORDED = "not recorded"


class CompareError(LookupError):
    """A side names no run or version of the workspace (or several); the message says which exist."""


@dataclasses.dataclass
class Side:
    """One side of the comparison; None where the run did not record the fact."""

    asked: str  # as given on the command line
    name: str  # "run <id>" or "version <n>"
    run_id: str
    version: int | None
    started: str
    outcome: str
    detail: str
    blessed: bool | None
    blessing: str  # the Evaluator's reason
    against_served: str | None  # the Evaluator's comparison with the model served then, in one line
    spans: list[int]
    data_fingerprint: str | None
    rows: dict[str, int]  # split -> rows (StatisticsGen)
    config_path: str | None
    config_sha256: str | None
    config_recorded: bool  # the configuration file's text was recorded (runs since `kfx compare` exists)
    git_commit: str | None
    git_dirty: bool | None
    hyperparameters: dict[str, Any]
    summary_metrics: dict[str, float | None]  # TFMA's, from the run's summary
    model_dir: str | None  # the SavedModel scored; None: the run trained none, or its folder is gone
    model_note: str  # why there is no model_dir
    # Read from ML Metadata for the comparison, not shown.
    config_text: str | None = dataclasses.field(default=None, repr=False)
    examples: Any = dataclasses.field(default=None, repr=False)
    statistics: Any = dataclasses.field(default=None, repr=False)
    label: str | None = dataclasses.field(default=None, repr=False)
    slice_features: list[str] = dataclasses.field(default_factory=list, repr=False)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # confidence, min slice size


_HIDDEN = ("config_text", "examples", "statistics", "label", "slice_features", "settings")


@dataclasses.dataclass
class Comparison:
    a: Side
    b: Side
    metrics: compare_scores.Metrics | None
    metrics_note: str  # why there are no metrics, or how they were computed
    changed_features: list[compare_data.FeatureChange]
    data_note: str
    config_diff: list[str]  # unified diff lines, A to B
    config_note: str
    hyperparameters: list[dict[str, Any]]  # name, a, b, changed
    commits: list[str]  # `git log --oneline`, newest first
    commits_note: str
    generated: str

    def to_dict(self) -> dict[str, Any]:
        found = dataclasses.asdict(self)
        for side in ("a", "b"):
            for hidden in _HIDDEN:
                found[side].pop(hidden)
        return found


def resolve(store: metadata_store.MetadataStore, asked: str) -> tuple[str, int | None, str | None]:
    """(run id, pushed version or None, pushed folder or None) named by `asked`: `v:<version>`, a run id or a unique
    prefix of one; CompareError naming what exists otherwise."""
    if asked.startswith(VERSION_PREFIX):
        version = asked[len(VERSION_PREFIX) :]
        try:
            found = lineage.served_lineage(store, version)
        except lineage.LineageError as error:
            raise CompareError(str(error)) from None
        return found.step("Pusher").run_id, found.version, found.path
    runs = [context.name for context in store.get_contexts_by_type(store_lib.RUN_CONTEXT)]
    if asked in runs:
        return asked, None, None
    matches = [run for run in runs if run.startswith(asked)]
    if len(matches) == 1:
        return matches[0], None, None
    if matches:
        raise CompareError(f"'{asked}' is the start of {len(matches)} run ids ({', '.join(sorted(matches)[:5])}, ...): "
                           "give more of it")  # fmt: skip
    newest = ", ".join(sorted(runs, reverse=True)[:3]) or "none yet"
    raise CompareError(f"no run '{asked}' in this workspace (`kfx runs` lists them; newest: {newest}); "
                       f"a pushed version is written {VERSION_PREFIX}<version>")  # fmt: skip


def side(store: metadata_store.MetadataStore, logs_dir: str, asked: str) -> Side:
    """Everything one side's records say, read from ML Metadata and the run's files."""
    run_id, version, pushed_dir = resolve(store, asked)
    listed = next(run for run in runs_lib.list_runs(store, logs_dir) if run.run_id == run_id)
    context = store.get_context_by_type_and_name(store_lib.RUN_CONTEXT, run_id)
    record = store_lib.run_record(store, context, listed.pipeline)
    properties = store_lib.run_properties(store, run_id)
    blessing = record.output("Evaluator", "blessing")
    evaluation = record.output("Evaluator", "evaluation")
    model = record.output("Trainer", "model")
    statistics = record.output("StatisticsGen", "statistics")
    compared = comparison.load(blessing)
    model_dir = pushed_dir if pushed_dir and os.path.isdir(pushed_dir) else None
    if model_dir is None and model is not None:
        from tfx.utils import path_utils

        model_dir = path_utils.serving_model_path(model.uri)
    if model is None and model_dir is None:
        model_note = f"trained no model ({listed.outcome}: {listed.detail})"
    elif not os.path.isdir(model_dir):
        model_note, model_dir = f"its model folder {model_dir} is gone", None
    else:
        model_note = ""
    config_text = properties.get(store_lib.CONFIG_TEXT)
    return Side(
        asked=asked,
        name=f"version {version}" if version is not None else f"run {run_id}",
        run_id=run_id,
        version=version,
        started=listed.started,
        outcome=listed.outcome,
        detail=listed.detail,
        blessed=None if blessing is None else bool(store_lib.custom(blessing, "blessed")),
        blessing=store_lib.custom(blessing, evaluator_properties.REASON_PROPERTY) or "",
        against_served=comparison.headline(compared),
        spans=listed.spans,
        data_fingerprint=listed.data_fingerprint,
        rows=_rows(statistics),
        config_path=properties.get(store_lib.CONFIG_PATH),
        config_sha256=listed.config_sha256,
        config_recorded=config_text is not None,
        git_commit=listed.git_commit,
        git_dirty=listed.git_dirty,
        hyperparameters=hyperparameters.used(store, run_id),
        summary_metrics=listed.metrics,
        model_dir=model_dir,
        model_note=model_note,
        config_text=config_text,
        examples=record.output("WindowExampleGen", "examples"),
        statistics=statistics,
        label=_label_name(store, model),
        slice_features=_slice_features(evaluation, config_text),
        settings={
            "confidence": compared["confidence"] if compared else DEFAULT_CONFIDENCE,
            "min_slice_size": comparison.min_slice_size(compared),
        },
    )


def _rows(statistics: metadata_store_pb2.Artifact | None) -> dict[str, int]:
    if statistics is None:
        return {}
    from monitoring import artifacts

    found = artifacts.statistics(statistics)
    return compare_data.split_rows({split: artifacts.load_statistics(found, split) for split in found.splits})


def _label_name(store: metadata_store.MetadataStore, model: metadata_store_pb2.Artifact | None) -> str | None:
    """The label the model was trained on, from its Trainer's custom_config (the features it was handed)."""
    if model is None:
        return None
    events = [e for e in store.get_events_by_artifact_ids([model.id]) if e.type == metadata_store_pb2.Event.OUTPUT]
    if not events:
        return None
    (trainer,) = store.get_executions_by_id([min(e.execution_id for e in events)])
    if "custom_config" not in trainer.custom_properties:
        return None
    config = json.loads(trainer.custom_properties["custom_config"].string_value)
    return (config.get("features") or {}).get("label", {}).get("name")


def _slice_features(evaluation: metadata_store_pb2.Artifact | None, config_text: str | None) -> list[str]:
    """The features the run's Evaluator sliced by (its eval_config.json), else its recorded configuration's."""
    if evaluation is not None:
        path = os.path.join(evaluation.uri, "eval_config.json")
        if os.path.isfile(path):
            with open(path) as f:
                specs = json.load(f)["evalConfig"].get("slicingSpecs", [])
            return [key for spec in specs for key in spec.get("featureKeys", [])]
    if config_text:
        try:
            return list((yaml.safe_load(config_text) or {}).get("evaluation", {}).get("slices") or [])
        except (yaml.YAMLError, AttributeError):
            return []
    return []


def compare(
    store: metadata_store.MetadataStore,
    logs_dir: str,
    asked_a: str,
    asked_b: str,
    slices: list[str] | None = None,
    on_rows_of_b: bool = False,
) -> Comparison:
    """A against B; `slices`: the features to slice by (default: those B's Evaluator used, else A's);
    `on_rows_of_b`: when the eval rows differ, score A's model on B's rows too (paired, on B's rows)."""
    a, b = side(store, logs_dir, asked_a), side(store, logs_dir, asked_b)
    slices = slices if slices is not None else (b.slice_features or a.slice_features)
    metrics, metrics_note = _metrics(a, b, slices, on_rows_of_b)
    changed, data_note = _data(a, b)
    config_diff, config_note = _config_diff(a, b)
    commits, commits_note = git_commits(a.git_commit, b.git_commit)
    return Comparison(
        a=a,
        b=b,
        metrics=metrics,
        metrics_note=metrics_note,
        changed_features=changed,
        data_note=data_note,
        config_diff=config_diff,
        config_note=config_note,
        hyperparameters=hyperparameter_rows(a.hyperparameters, b.hyperparameters),
        commits=commits,
        commits_note=commits_note,
        generated=datetime.datetime.now().isoformat(" ", "seconds"),
    )


def _metrics(a: Side, b: Side, slices: list[str], on_rows_of_b: bool) -> tuple[compare_scores.Metrics | None, str]:
    """Both models scored on eval rows; (None, why) when a side has no model, no eval rows or no label."""
    for one in (a, b):
        if one.model_dir is None:
            return None, f"{one.name}: {one.model_note}"
        if one.examples is None or one.label is None:
            return None, f"{one.name}: its Trainer recorded no {'examples' if one.examples is None else 'label'}"
    rows_a = compare_scores.read_eval_rows(compare_scores.as_tfx_examples(a.examples))
    rows_b = compare_scores.read_eval_rows(compare_scores.as_tfx_examples(b.examples))
    if not rows_a or not rows_b:
        return None, "no eval rows found in the Examples artifact of " + (a.name if not rows_a else b.name)
    same_rows = compare_scores.rows_digest(rows_a) == compare_scores.rows_digest(rows_b)
    scored_b = compare_scores.score(b.model_dir, rows_b, b.label, slices)
    scored_a = compare_scores.score(a.model_dir, rows_b if same_rows or on_rows_of_b else rows_a, a.label, slices)
    paired = (same_rows or on_rows_of_b) and bool((scored_a.labels == scored_b.labels).all())
    if (same_rows or on_rows_of_b) and not paired:
        note = "the same rows, but the two models' label rules disagree on some"
    else:
        spans = "the same spans" if a.spans == b.spans else f"spans {_spans(a.spans)} vs {_spans(b.spans)}"
        note = f"{spans}, {len(rows_a):,} vs {len(rows_b):,} eval rows"
    settings = b.settings or a.settings
    metrics = compare_scores.compare(
        scored_a, scored_b, paired, settings["confidence"], settings["min_slice_size"], note
    )
    if paired and not same_rows:
        metrics.method = (
            f"paired on B's {len(rows_b):,} eval rows (asked for): A's model scored them too; A's own eval rows "
            f"differ ({note}), and A may have trained on some of B's; AUC by DeLong's test"
        )
    return metrics, metrics.method


def _spans(spans: list[int]) -> str:
    return ",".join(map(str, spans)) or "-"


def _data(a: Side, b: Side) -> tuple[list[compare_data.FeatureChange], str]:
    if a.statistics is None or b.statistics is None:
        return [], "no training statistics recorded for " + (a.name if a.statistics is None else b.name)
    if a.data_fingerprint and a.data_fingerprint == b.data_fingerprint:
        return [], "the same data: both read files with the same fingerprint"
    from monitoring import artifacts

    train = compare_data.TRAIN_SPLIT
    changes = compare_data.changed_features(
        artifacts.load_statistics(artifacts.statistics(a.statistics), train),
        artifacts.load_statistics(artifacts.statistics(b.statistics), train),
    )
    return changes[: compare_data.SHOWN_FEATURES], "the training rows' distributions, the largest change first"


def _config_diff(a: Side, b: Side) -> tuple[list[str], str]:
    if a.config_sha256 and a.config_sha256 == b.config_sha256:
        return [], "the same configuration file contents (sha256 equal; overrides such as --train-steps are not in it)"
    missing = [one.name for one in (a, b) if one.config_text is None]
    if missing:
        return [], f"configuration text {NOT_RECORDED} for {' and '.join(missing)} (runs before it was recorded)"
    diff = difflib.unified_diff(
        a.config_text.splitlines(), b.config_text.splitlines(), f"A {a.config_path}", f"B {b.config_path}", lineterm=""
    )
    lines = list(diff)
    return lines, "unified diff, A to B" if lines else "the same configuration text"


def hyperparameter_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every hyperparameter of either side: name, A's value, B's value, whether they differ (where they came from,
    `source` and `tuned_run`, is said beside them, not compared)."""
    names = [name for name in dict.fromkeys([*a, *b]) if name not in ("source", "tuned_run")]
    return [{"name": name, "a": a.get(name), "b": b.get(name), "changed": a.get(name) != b.get(name)} for name in names]


def git_commits(commit_a: str | None, commit_b: str | None, repository: str = _PROJECT) -> tuple[list[str], str]:
    """(`git log --oneline A..B`, what they are) when both commits are in the local checkout; ([], why) otherwise."""
    if not commit_a or not commit_b:
        return [], f"commit {NOT_RECORDED} for {'A' if not commit_a else 'B'}"
    if commit_a == commit_b:
        return [], f"the same commit {commit_a[:12]}"

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", repository, *args], capture_output=True, text=True, timeout=30)

    unknown = [c[:12] for c in (commit_a, commit_b) if git("cat-file", "-e", f"{c}^{{commit}}").returncode != 0]
    if unknown:
        return [], f"commit {', '.join(unknown)} is not in the local checkout {repository}"
    forward = git("log", "--oneline", f"{commit_a}..{commit_b}").stdout.splitlines()
    if forward:
        return forward, f"{len(forward)} commit(s) in B that A did not have (git log --oneline A..B)"
    backward = git("log", "--oneline", f"{commit_b}..{commit_a}").stdout.splitlines()
    return backward, f"B is older: {len(backward)} commit(s) in A that B did not have (git log --oneline B..A)"
