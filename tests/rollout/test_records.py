"""Rollout decisions round-trip through a real SQLite ML Metadata: linked to the version's PushedModel artifact as the
Pusher records it, read back read-only as `kfx lineage` does, and shown in its text and JSON."""

import json

from ml_metadata.proto import metadata_store_pb2

from monitoring import decisions as decisions_lib
from monitoring import lineage
from monitoring import store as store_lib
from rollout import steps


def _pushed_model(metadata_path: str, version: str) -> int:
    """A PushedModel artifact with the custom properties the AtomicPusher writes."""
    store = decisions_lib.open_writable(metadata_path)
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=lineage.PUSHED_MODEL))
    artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=f"/pipeline_root/Pusher/pushed_model/{version}")
    artifact.custom_properties["pushed"].int_value = 1
    artifact.custom_properties["pushed_version"].string_value = version
    artifact.custom_properties["pushed_destination"].string_value = f"/serving_model/chicago_taxi/{version}"
    (artifact_id,) = store.put_artifacts([artifact])
    return artifact_id


def test_decisions_round_trip_linked_to_the_pushed_model(tmp_path):
    metadata_path = str(tmp_path / "metadata.sqlite")
    artifact_id = _pushed_model(metadata_path, "1700000002")
    measures = [{"name": "quality", "status": "ok", "measure": "auc_difference", "value": -0.002, "low": -0.009,
                 "high": 0.005, "threshold": -0.01, "n": 5000, "reference": 1700000001}]  # fmt: skip
    made = [
        decisions_lib.RolloutDecision(
            "chicago_taxi", 1700000002, "start", "canary at 5%", [], "2026-12-05T10:00:00+00:00"
        ),
        decisions_lib.RolloutDecision(
            "chicago_taxi", 1700000002, "promote", "all checks passed", measures, "2026-12-06T10:00:00+00:00"
        ),  # fmt: skip
        decisions_lib.RolloutDecision("chicago_taxi", 1700000003, "rollback", "skew", [], "2026-12-07T10:00:00+00:00"),
    ]
    ids = [steps.record(metadata_path, decision) for decision in made]

    store = store_lib.connect(metadata_path)  # read-only, as kfx lineage opens it
    (pushed,) = store.get_artifacts_by_id([artifact_id])
    linked = decisions_lib.about(store, pushed)
    assert [(d.action, d.version, d.execution_id) for d in linked] == [("start", 1700000002, ids[0]),
                                                                       ("promote", 1700000002, ids[1])]  # fmt: skip
    assert linked[1].measures == measures and linked[1].reason == "all checks passed"
    events = store.get_events_by_execution_ids([ids[1]])
    assert [(e.artifact_id, e.type, e.path.steps[0].key) for e in events] == [
        (artifact_id, metadata_store_pb2.Event.INPUT, decisions_lib.PUSHED_MODEL_KEY)
    ]
    assert store.get_events_by_execution_ids([ids[2]]) == []  # version 3 was never pushed here: recorded unlinked
    everything = decisions_lib.of_model(store, "chicago_taxi")
    assert [d.action for d in everything] == ["start", "promote", "rollback"]
    (execution,) = store.get_executions_by_id([ids[1]])
    assert execution.type == decisions_lib.ROLLOUT_DECISION
    assert execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert json.loads(execution.properties["measures"].string_value) == measures


def test_lineage_shows_when_and_why_a_version_went_live():
    decision = decisions_lib.RolloutDecision("chicago_taxi", 2, "promote", "all checks passed; quality: auc ...", [],
                                             "2026-12-06T10:00:00+00:00", execution_id=41)  # fmt: skip
    found = lineage.Lineage(2, "/serving_model/chicago_taxi/2", [], [decision])
    text = lineage.format_lineage(found)
    assert text.splitlines()[1:] == [
        "  rollout decisions (kfx rollout):",
        "    2026-12-06T10:00:00+00:00  promote  all checks passed; quality: auc ...  (execution 41)",
    ]
    assert found.to_dict()["decisions"][0]["action"] == "promote"
    assert "rollout decisions" not in lineage.format_lineage(lineage.Lineage(2, "/p", []))
