"""Rollout decisions in ML Metadata: when and why a version went into canary or shadow, went live, or was withdrawn.

Each decision of `kfx rollout` (start, promote, rollback; waits are not recorded) is an Execution of the type
`kfx.RolloutDecision` with the properties model, version, action, reason, measures (JSON: every check with its
value, interval, threshold and reference version) and time, linked by an INPUT event to the version's PushedModel
artifact when ML Metadata has one, so `kfx lineage` lists the decisions under the version they were about.
"""

import dataclasses
import datetime
import json
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from monitoring import connection

ROLLOUT_DECISION = "kfx.RolloutDecision"
PUSHED_MODEL_KEY = "pushed_model"  # the event path key from a decision to the version's PushedModel
_STRING, _INT = metadata_store_pb2.STRING, metadata_store_pb2.INT
_PROPERTIES = {"model": _STRING, "version": _INT, "action": _STRING, "reason": _STRING, "measures": _STRING,
               "time": _STRING}  # fmt: skip


@dataclasses.dataclass
class RolloutDecision:
    """One recorded decision."""

    model: str
    version: int
    action: str  # start, promote or rollback
    reason: str
    measures: Any  # the checks' numbers, as recorded (JSON)
    time: str  # ISO 8601, UTC
    execution_id: int = 0


def open_writable(metadata: str) -> metadata_store.MetadataStore:
    """The workspace's ML Metadata (a SQLite file or a database URL, monitoring/connection.py) for writing, created
    if there is none yet."""
    return connection.open_store(metadata, writable=True)


def record(
    store: metadata_store.MetadataStore,
    decision: RolloutDecision,
    pushed: metadata_store_pb2.Artifact | None,
) -> int:
    """Writes the decision (linked to the version's PushedModel artifact if given); returns the execution id."""
    execution_type = metadata_store_pb2.ExecutionType(name=ROLLOUT_DECISION)
    for name, kind in _PROPERTIES.items():
        execution_type.properties[name] = kind
    type_id = store.put_execution_type(execution_type)
    execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    execution.name = f"{decision.model}-{decision.version}-{decision.action}-{decision.time}"
    execution.properties["model"].string_value = decision.model
    execution.properties["version"].int_value = decision.version
    execution.properties["action"].string_value = decision.action
    execution.properties["reason"].string_value = decision.reason
    execution.properties["measures"].string_value = json.dumps(decision.measures)
    execution.properties["time"].string_value = decision.time
    events = []
    if pushed is not None:
        event = metadata_store_pb2.Event(artifact_id=pushed.id, type=metadata_store_pb2.Event.INPUT)
        event.path.steps.add().key = PUSHED_MODEL_KEY
        events.append((pushed, event))
    execution_id, _, _ = store.put_execution(execution, events, contexts=[])
    return execution_id


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _is_decision(execution: metadata_store_pb2.Execution) -> bool:
    # Kubeflow's view renames execution types to their short names: match the end, and the properties.
    return execution.type.endswith("RolloutDecision") and "action" in execution.properties


def _decision(execution: metadata_store_pb2.Execution) -> RolloutDecision:
    properties = execution.properties
    return RolloutDecision(
        model=properties["model"].string_value,
        version=properties["version"].int_value,
        action=properties["action"].string_value,
        reason=properties["reason"].string_value,
        measures=json.loads(properties["measures"].string_value or "null"),
        time=properties["time"].string_value,
        execution_id=execution.id,
    )


def about(store, pushed: metadata_store_pb2.Artifact) -> list[RolloutDecision]:
    """The decisions linked to a PushedModel artifact, oldest first."""
    events = store.get_events_by_artifact_ids([pushed.id])
    ids = sorted({e.execution_id for e in events if e.type == metadata_store_pb2.Event.INPUT})
    executions = [e for e in store.get_executions_by_id(ids) if _is_decision(e)] if ids else []
    return sorted((_decision(e) for e in executions), key=lambda d: (d.time, d.execution_id))


def of_model(store: metadata_store.MetadataStore, model: str) -> list[RolloutDecision]:
    """Every decision about `model`, linked or not, oldest first."""
    executions = store.get_executions_by_type(ROLLOUT_DECISION)
    found = [_decision(e) for e in executions if _is_decision(e)]
    return sorted((d for d in found if d.model == model), key=lambda d: (d.time, d.execution_id))
