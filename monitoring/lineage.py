"""Where a served version came from: the chain in ML Metadata from its push back to the CSV files of its spans.

Walks MLMD events by hand along the keys that matter (a free upstream walk would cross into earlier runs through the
Evaluator's baseline): Pusher <- Evaluator (metrics, blessing, baseline) <- Trainer <- Transform <- schema and
WindowExampleGen (spans, files, fingerprint), plus the checks that consumed the same examples: StatisticsGen,
ExampleValidator/DataGate and DistributionValidator/DriftGate. Each step names the run that executed it (a cached
step points at the earlier run that did the work) and the git commit recorded for that run.

The same walk reads what TFX's LocalDagRunner recorded and what the KFP v2 driver and launcher recorded on a
cluster: `store.connect` hands a KFP-written store over through `kfp_metadata.KfpView`, which gives tasks, types and
contexts their TFX names. KFP records no git commit (None: "not recorded").

`Lineage.to_dict()` holds JSON's own types (what `kfx lineage --json` prints): numbers and versions as integers,
flags as booleans, spans as lists, what was not recorded as null.
"""

import dataclasses
import datetime
import json
import os
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.atomic_pusher import properties as pusher_properties
from components.champion_evaluator import properties as evaluator_properties
from components.serving_baseline import executor as baseline_executor
from components.window_example_gen import window as window_executor
from monitoring import decisions as decisions_lib
from monitoring import hyperparameters as hyperparameters_lib
from monitoring import store as store_lib

Event = metadata_store_pb2.Event
PUSHED_MODEL = "PushedModel"
# Custom properties recorded as 0/1 integers that mean yes/no.
_FLAGS = {
    "blessed",
    baseline_executor.HAS_MODEL_PROPERTY,
    evaluator_properties.PASSED_PROPERTY,
    evaluator_properties.THRESHOLDS_PROPERTY,
}
_COMPARISON = [
    evaluator_properties.THRESHOLDS_PROPERTY,
    evaluator_properties.POLICY_PROPERTY,
    evaluator_properties.DIFFERENCE_PROPERTY,
    evaluator_properties.LOWER_PROPERTY,
    evaluator_properties.UPPER_PROPERTY,
    evaluator_properties.PASSED_PROPERTY,
    evaluator_properties.REASON_PROPERTY,
    evaluator_properties.FINGERPRINT_PROPERTY,
    evaluator_properties.EVALUATED_ROWS_PROPERTY,
    evaluator_properties.EVAL_ROWS_PROPERTY,
    evaluator_properties.SAMPLE_PROPERTY,
]


class LineageError(LookupError):
    """The version asked for was never pushed in this workspace; the message lists the ones that were."""


@dataclasses.dataclass
class Step:
    """One execution on the chain: what ran, in which run, from which code, and what it produced."""

    node: str
    execution_id: int
    state: str
    run_id: str
    commit: str | None  # None: the run recorded no commit (KFP, or a run made outside git)
    dirty: bool | None  # uncommitted changes in the working tree; None: not recorded
    finished: str
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)  # output key -> artifact URI
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Lineage:
    version: int
    path: str
    steps: list[Step]
    # What `kfx rollout` decided about the version (start, promote, rollback), oldest first: when and why it went
    # live or was withdrawn.
    decisions: list[decisions_lib.RolloutDecision] = dataclasses.field(default_factory=list)

    def step(self, node: str) -> Step | None:
        return next((s for s in self.steps if s.node == node), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pushed_versions(store: metadata_store.MetadataStore) -> dict[str, metadata_store_pb2.Artifact]:
    """Pushed version -> its PushedModel artifact."""
    pushed = {}
    for artifact in store.get_artifacts_by_type(PUSHED_MODEL):
        if store_lib.custom(artifact, "pushed"):
            pushed[store_lib.custom(artifact, "pushed_version")] = artifact
    return pushed


class _Graph:
    """Events around executions and artifacts, and the run context of each execution."""

    def __init__(self, store: metadata_store.MetadataStore):
        self.store = store
        self._run_type = next(t.id for t in store.get_context_types() if t.name == store_lib.RUN_CONTEXT)
        self._node_types = {t.id for t in store.get_context_types() if t.name == store_lib.NODE_CONTEXT}

    def producer(self, artifact_id: int) -> metadata_store_pb2.Execution:
        """The execution that made the artifact (cached executions add OUTPUT events too: take the first)."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact_id]) if e.type == Event.OUTPUT]
        return self.store.get_executions_by_id([min(e.execution_id for e in events)])[0]

    def consumers(self, artifact_id: int, node: str) -> list[metadata_store_pb2.Execution]:
        """Executions of `node` that read the artifact, the one that did the work (COMPLETE) first."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact_id]) if e.type == Event.INPUT]
        executions = self.store.get_executions_by_id(sorted({e.execution_id for e in events}))
        complete = metadata_store_pb2.Execution.COMPLETE
        return sorted((e for e in executions if self.node(e) == node), key=lambda e: e.last_known_state != complete)

    def node(self, execution: metadata_store_pb2.Execution) -> str:
        """The node id, from the node context `<pipeline>.<node id>` (a pipeline name has no dot); KFP's records have
        none but name the execution type after the task. Not the class: the Evaluator node's class is not Evaluator."""
        nodes = [c for c in self.store.get_contexts_by_execution(execution.id) if c.type_id in self._node_types]
        return nodes[0].name.split(".", 1)[1] if nodes else execution.type.rsplit(".", 1)[-1]

    def artifacts(self, execution_id: int, kind: int) -> dict[str, metadata_store_pb2.Artifact]:
        events = [e for e in self.store.get_events_by_execution_ids([execution_id]) if e.type == kind]
        by_id = {a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in events])}
        return {e.path.steps[0].key: by_id[e.artifact_id] for e in events if e.path.steps}

    def step(self, execution: metadata_store_pb2.Execution) -> Step:
        runs = [c for c in self.store.get_contexts_by_execution(execution.id) if c.type_id == self._run_type]
        run_id = runs[0].name if runs else ""
        code = store_lib.run_properties(self.store, run_id) if run_id else {}
        outputs = self.artifacts(execution.id, Event.OUTPUT)
        finished = datetime.datetime.fromtimestamp(execution.last_update_time_since_epoch / 1000).isoformat(
            " ", "seconds"
        )
        return Step(
            node=self.node(execution),
            execution_id=execution.id,
            state=metadata_store_pb2.Execution.State.Name(execution.last_known_state),
            run_id=run_id,
            commit=None if code.get(store_lib.GIT_COMMIT, "unknown") == "unknown" else code[store_lib.GIT_COMMIT],
            dirty={"true": True, "false": False}.get(code.get(store_lib.GIT_DIRTY, "")),
            finished=finished,
            outputs={key: artifact.uri for key, artifact in outputs.items()},
        )


def _properties(artifact: metadata_store_pb2.Artifact, names: list[str]) -> dict[str, Any]:
    """The artifact's properties among `names` that it has, in JSON's types."""
    found = {}
    for name in names:
        value = store_lib.custom(artifact, name)
        if value is None:
            continue
        if name in _FLAGS:
            value = bool(value)
        elif name == window_executor.WINDOW_PROPERTY:
            value = [int(span) for span in value.split(",") if span]
        elif name == window_executor.PREVIOUS_PROPERTY:
            value = None if value < 0 else value  # -1: no earlier span
        elif name == window_executor.FILES_PROPERTY:
            value = json.loads(value)
        found[name] = value
    return found


def served_lineage(store: metadata_store.MetadataStore, version: str | None = None) -> Lineage:
    """The chain behind `version` (default: the newest pushed version)."""
    pushed = pushed_versions(store)
    if not pushed:
        raise LineageError("nothing has been pushed in this workspace yet; run `kfx run` first")
    version = version or max(pushed, key=int)
    if version not in pushed:
        raise LineageError(f"version {version} was not pushed here; pushed versions: {', '.join(sorted(pushed))}")
    graph = _Graph(store)
    pusher = graph.producer(pushed[version].id)
    steps = [graph.step(pusher)]
    steps[0].details = _properties(pushed[version], [pusher_properties.FINGERPRINT_PROPERTY])
    pusher_inputs = graph.artifacts(pusher.id, Event.INPUT)

    evaluator = graph.producer(pusher_inputs["model_blessing"].id)
    evaluation = graph.step(evaluator)
    blessing = graph.artifacts(evaluator.id, Event.OUTPUT).get("blessing")
    evaluation.details = (
        _properties(blessing, ["blessed", "current_model_uri", "baseline_model_uri", *_COMPARISON]) if blessing else {}
    )
    evaluator_inputs = graph.artifacts(evaluator.id, Event.INPUT)
    baseline = evaluator_inputs.get("baseline_model")
    if baseline is not None:
        evaluation.details["baseline"] = _properties(
            baseline,
            [
                baseline_executor.HAS_MODEL_PROPERTY,
                baseline_executor.SERVED_VERSION_PROPERTY,
                baseline_executor.SERVED_PATH_PROPERTY,
                baseline_executor.SERVED_FINGERPRINT_PROPERTY,
            ],
        )
    steps.append(evaluation)

    trainer = graph.producer(pusher_inputs["model"].id)
    steps.append(graph.step(trainer))
    trainer_inputs = graph.artifacts(trainer.id, Event.INPUT)
    tuned = trainer_inputs.get("hyperparameters")
    if tuned is not None:  # the search that found them: this run's Tuner, or an earlier run's that a Resolver reused
        search = graph.step(graph.producer(tuned.id))
        search.details = hyperparameters_lib.best(tuned)
        steps.append(search)
    transform = graph.producer(trainer_inputs["transform_graph"].id)
    steps.append(graph.step(transform))
    schema = trainer_inputs.get("schema")
    if schema is not None:
        steps.append(graph.step(graph.producer(schema.id)))

    examples = graph.artifacts(transform.id, Event.INPUT)["examples"]
    example_gen = graph.step(graph.producer(examples.id))
    example_gen.details = _properties(
        examples,
        [window_executor.SPAN_PROPERTY, window_executor.WINDOW_PROPERTY, window_executor.PREVIOUS_PROPERTY,
         window_executor.FINGERPRINT_PROPERTY, window_executor.FILES_PROPERTY],
    )  # fmt: skip
    steps += _checks(graph, examples)
    steps.append(example_gen)
    path = store_lib.custom(pushed[version], "pushed_destination") or ""
    return Lineage(int(version), path, steps, decisions_lib.about(store, pushed[version]))


def _checks(graph: _Graph, examples: metadata_store_pb2.Artifact) -> list[Step]:
    """The validation and drift steps that read the same examples: StatisticsGen and what consumed its output."""
    found = []
    for statistics_gen in graph.consumers(examples.id, "StatisticsGen")[:1]:
        found.append(graph.step(statistics_gen))
        statistics = graph.artifacts(statistics_gen.id, Event.OUTPUT)["statistics"]
        for checker, gate in (("ExampleValidator", "DataGate"), ("DistributionValidator", "DriftGate")):
            for check in graph.consumers(statistics.id, checker)[:1]:
                found.append(graph.step(check))
                anomalies = graph.artifacts(check.id, Event.OUTPUT)["anomalies"]
                found += [graph.step(g) for g in graph.consumers(anomalies.id, gate)[:1]]
    return found


def training_statistics(store: metadata_store.MetadataStore, version: str) -> metadata_store_pb2.Artifact:
    """The ExampleStatistics artifact of the data the version was trained on, StatisticsGen's output on its chain."""
    lineage = served_lineage(store, version)
    step = lineage.step("StatisticsGen")
    if step is None:
        raise LineageError(f"version {version}: no StatisticsGen step found on its lineage")
    return _Graph(store).artifacts(step.execution_id, Event.OUTPUT)["statistics"]


def format_lineage(lineage: Lineage) -> str:
    """The chain as text, one block per step."""
    lines = [f"version {lineage.version} -> {lineage.path}"]
    for step in lineage.steps:
        code = "commit not recorded" if step.commit is None else f"commit {step.commit[:12]}"
        code += " (uncommitted changes)" if step.dirty else ""
        lines.append(f"  {step.node:<22} {step.state:<8} run {step.run_id}  execution {step.execution_id}  {code}")
        for key, uri in sorted(step.outputs.items()):
            lines.append(f"  {'':<22} {key}: {uri}")
        for key, value in step.details.items():
            lines.append(f"  {'':<22} {key}: {value}")
    if lineage.decisions:
        lines.append("  rollout decisions (kfx rollout):")
    for decision in lineage.decisions:
        lines.append(
            f"    {decision.time}  {decision.action:<8} {decision.reason}  (execution {decision.execution_id})"
        )
    return "\n".join(lines)


def training_runs(store: metadata_store.MetadataStore) -> dict[str, str]:
    """TensorBoard run name -> the Trainer's `model_run` folder, oldest first, for every training in the store: the
    name is `<run id> <date>` of the run whose Trainer did the work (a cached Trainer adds no folder)."""
    graph = _Graph(store) if store.get_context_types() else None
    runs = sorted(store.get_artifacts_by_type("ModelRun"), key=lambda a: (a.create_time_since_epoch, a.id))
    found = {}
    for artifact in runs:
        step = graph.step(graph.producer(artifact.id)) if graph else None
        date = datetime.datetime.fromtimestamp(artifact.create_time_since_epoch / 1000).strftime("%Y-%m-%d %H:%M")
        name = f"{step.run_id or f'execution {step.execution_id}'} {date}" if step else f"artifact {artifact.id}"
        found[name.replace("/", "_")] = artifact.uri  # a slash would make TensorBoard nest the run
    return found


def training_logdir(store: metadata_store.MetadataStore, version: str | None, all_runs: bool) -> str:
    """The Trainer's `model_run` folder (TensorBoard logs) of a version, of the newest training, or (all_runs) their
    parent folder; LineageError when nothing has been trained."""
    if version:
        return served_lineage(store, version).step("Trainer").outputs["model_run"]
    runs = sorted(store.get_artifacts_by_type("ModelRun"), key=lambda a: a.create_time_since_epoch)
    if not runs:
        raise LineageError("no training has run in this workspace yet; run `kfx run` first")
    return os.path.dirname(runs[-1].uri.rstrip("/")) if all_runs else runs[-1].uri
