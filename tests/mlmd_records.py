"""Pipeline runs written into a real SQLite ML Metadata by hand, shaped as `kfx run` and TFX's LocalDagRunner write
them, for the views that read runs (`kfx runs`, `kfx models`) without running the pipeline.

What is copied from TFX's records (see a real workspace: `sqlite3 metadata.sqlite`): the run's `pipeline_run`
context made first by store.record_run, a `node` context `<pipeline>.<node id>` per node, each execution associated
with the pipeline, run and node contexts, OUTPUT events keyed by the output name, the INPUT events the lineage walk
follows (Pusher <- model_blessing, model; Trainer <- transform_graph; Transform <- examples), and the custom properties
WindowExampleGen, the Evaluator and the AtomicPusher set. tests/e2e/test_runs_models.py checks the same views on the
records of real runs.
"""

import json
import os
import time

from ml_metadata.proto import metadata_store_pb2

from components.atomic_pusher import properties as pusher_properties
from components.champion_evaluator import properties as evaluator_properties
from components.serving_baseline import executor as baseline_executor
from components.window_example_gen import window
from monitoring import decisions as decisions_lib
from monitoring import lineage
from monitoring import store as store_lib

PIPELINE = "chicago-taxi"
MODEL = "chicago_taxi"
NODES = (
    "ImportSchemaGen", "WindowExampleGen", "StatisticsGen", "DistributionValidator", "ExampleValidator", "SchemaGen",
    "DataGate", "DriftGate", "DriftStop", "Transform", "Trainer", "ServingBaseline", "Evaluator", "Pusher",
)  # fmt: skip
CODE = {store_lib.GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567", store_lib.GIT_DIRTY: "false"}
Event = metadata_store_pb2.Event
STATES = metadata_store_pb2.Execution.State


def states_until(last: str, state: str, *, before: str = "COMPLETE") -> dict[str, str]:
    """Every node up to `last` in order: `before` for the earlier ones, `state` for `last` (none after it)."""
    nodes = NODES[: NODES.index(last) + 1]
    return {node: (state if node == last else before) for node in nodes}


class Records:
    """Writes runs into the ML Metadata at `metadata_path`, pushing into `serving_dir`/<MODEL>/<version>."""

    def __init__(self, metadata_path: str, serving_dir: str, logs_dir: str):
        self.metadata_path, self.serving_dir, self.logs_dir = metadata_path, serving_dir, logs_dir
        self.store = decisions_lib.open_writable(metadata_path)
        self.pushed: dict[str, int] = {}  # version -> PushedModel artifact id

    def _context(self, type_name: str, name: str) -> metadata_store_pb2.Context:
        found = self.store.get_context_by_type_and_name(type_name, name)
        if found is not None:
            return found
        type_id = self.store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
        (context_id,) = self.store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])
        return self.store.get_contexts_by_id([context_id])[0]

    def _artifact(self, type_name: str, uri: str, properties: dict) -> metadata_store_pb2.Artifact:
        type_id = self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name=type_name))
        artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=uri, state=metadata_store_pb2.Artifact.LIVE)
        for name, value in properties.items():
            field = {int: "int_value", float: "double_value", str: "string_value"}[type(value)]
            setattr(artifact.custom_properties[name], field, value)
        (artifact.id,) = self.store.put_artifacts([artifact])
        return artifact

    def run(
        self,
        run_id: str,
        states: dict[str, str],
        *,
        spans: tuple[int, ...] = (1,),
        fingerprint: str = "f" * 64,
        blessed: bool | None = None,
        reason: str = "nothing served yet: the thresholds alone decide",
        pushed_version: str | None = None,
        identical_to: int | None = None,
        baseline_version: int | None = None,
        properties: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> None:
        """One run: `states` (node -> MLMD state name, in order) and the artifacts of the nodes that completed; with
        `metrics`, the summary `kfx run` writes next to its log."""
        store_lib.record_run(self.metadata_path, PIPELINE, run_id, CODE if properties is None else properties)
        pipeline = self._context(store_lib.PIPELINE_CONTEXT, PIPELINE)
        run = self._context(store_lib.RUN_CONTEXT, run_id)
        outputs: dict[str, metadata_store_pb2.Artifact] = {}
        for node, state in states.items():
            node_context = self._context(store_lib.NODE_CONTEXT, f"{PIPELINE}.{node}")
            type_id = self.store.put_execution_type(metadata_store_pb2.ExecutionType(name=f"components.{node}"))
            execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=STATES.Value(state))
            done = state in ("COMPLETE", "CACHED")
            made = self._outputs(node, run_id, spans, fingerprint, blessed, reason, pushed_version, identical_to,
                                 baseline_version) if done else {}  # fmt: skip
            inputs = {key: outputs[source] for key, source in _INPUTS.get(node, {}).items() if source in outputs}
            events = [_event(Event.INPUT, key, artifact) for key, artifact in inputs.items()]
            events += [_event(Event.OUTPUT, key, artifact) for key, artifact in made.items()]
            contexts = [pipeline, run, node_context]
            self.store.put_execution(execution, events, contexts, force_reuse_context=True)
            outputs.update({f"{node}.{key}": artifact for key, artifact in made.items()})
        if metrics is not None:
            os.makedirs(self.logs_dir, exist_ok=True)
            stamp = run_id.replace(":", "").replace("-", "").replace(".", "")
            with open(os.path.join(self.logs_dir, f"run-{stamp}.summary.json"), "w") as f:
                json.dump({"run_id": run_id, "states": states, "metrics": metrics}, f)
        time.sleep(0.002)  # MLMD stamps contexts in milliseconds: one run after the other

    def _outputs(self, node, run_id, spans, fingerprint, blessed, reason, pushed_version, identical_to, baseline):
        root = f"/pipeline_root/{node}"
        if node == "WindowExampleGen":
            return {"examples": self._artifact("Examples", f"{root}/examples/{run_id}", {
                window.WINDOW_PROPERTY: ",".join(map(str, spans)), window.FINGERPRINT_PROPERTY: fingerprint,
                window.SPAN_PROPERTY: spans[-1]})}  # fmt: skip
        if node == "Transform":
            return {"transform_graph": self._artifact("TransformGraph", f"{root}/transform_graph/{run_id}", {})}
        if node == "Trainer":
            return {"model": self._artifact("Model", f"{root}/model/{run_id}", {})}
        if node == "ServingBaseline":
            served = {baseline_executor.HAS_MODEL_PROPERTY: int(baseline is not None)}
            if baseline is not None:
                served[baseline_executor.SERVED_VERSION_PROPERTY] = baseline
            return {"baseline_model": self._artifact("Model", f"{root}/baseline_model/{run_id}", served)}
        if node == "Evaluator" and blessed is not None:
            return {"blessing": self._artifact("ModelBlessing", f"{root}/blessing/{run_id}", {
                "blessed": int(blessed), evaluator_properties.REASON_PROPERTY: reason})}  # fmt: skip
        if node == "Pusher":
            pushed = {"pushed": int(pushed_version is not None)}
            if pushed_version is not None:
                pushed["pushed_version"] = pushed_version
                pushed["pushed_destination"] = os.path.join(self.serving_dir, MODEL, pushed_version)
            if identical_to is not None:
                pushed[pusher_properties.IDENTICAL_VERSION_PROPERTY] = identical_to
            artifact = self._artifact(lineage.PUSHED_MODEL, f"{root}/pushed_model/{run_id}", pushed)
            if pushed_version is not None:
                self.pushed[pushed_version] = artifact.id
            return {"pushed_model": artifact}
        return {}

    def decide(self, version: str, action: str, reason: str, time_text: str) -> int:
        """A `kfx rollout` decision about a pushed version, linked to its PushedModel as rollout records it."""
        (pushed,) = self.store.get_artifacts_by_id([self.pushed[version]])
        decision = decisions_lib.RolloutDecision(MODEL, int(version), action, reason, [], time_text)
        return decisions_lib.record(self.store, decision, pushed)


# Node -> input key -> "<producer node>.<output key>": the inputs the lineage walk follows.
_INPUTS = {
    "Transform": {"examples": "WindowExampleGen.examples"},
    "Trainer": {"transform_graph": "Transform.transform_graph", "examples": "WindowExampleGen.examples"},
    "Evaluator": {"model": "Trainer.model", "baseline_model": "ServingBaseline.baseline_model"},
    "Pusher": {"model": "Trainer.model", "model_blessing": "Evaluator.blessing"},
}


def _event(kind: int, key: str, artifact: metadata_store_pb2.Artifact) -> tuple:
    event = Event(type=kind)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return artifact, event
