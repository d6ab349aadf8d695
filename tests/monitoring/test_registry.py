"""monitoring/registry.py on a real SQLite ML Metadata with two pushed versions and a refused run
(tests/mlmd_records.py), labels moved by serving.labels as `kfx promote` and `kfx rollout` move them, and a rollout
decision: each version's facts, checked against the store read directly; the text; the self-contained HTML page."""

import html.parser
import os
import re

import pytest
from mlmd_records import CODE, MODEL, Records, states_until
from server_process import free_port

from monitoring import registry
from monitoring import store as store_lib
from serving import labels

V1, V2 = "1700000001", "1700000002"
RUN_1, RUN_2, RUN_3 = "2026-12-01T10:00:00.000001", "2026-12-02T10:00:00.000001", "2026-12-03T10:00:00.000001"
CANARY_REASON = "canary at 50%: pushed by kfx run (rollout.on_push)"
AGAINST_V1 = f"auc +0.0100 against served version {V1}: not worse by more than the margin"


@pytest.fixture
def workspace(tmp_path) -> dict:
    """V1 pushed and labelled stable, V2 pushed against it and in canary (a rollout decision says so), then a run
    that was not blessed."""
    serving_dir = tmp_path / "serving_model"
    for version in (V1, V2):
        (serving_dir / MODEL / version).mkdir(parents=True)
        (serving_dir / MODEL / version / "saved_model.pb").write_bytes(b"a model")
    paths = {"metadata": str(tmp_path / "metadata.sqlite"), "logs": str(tmp_path / "logs"),
             "serving": str(serving_dir), "config": str(serving_dir / "models.config")}  # fmt: skip
    records = Records(paths["metadata"], paths["serving"], paths["logs"])
    done = states_until("Pusher", "COMPLETE")
    records.run(RUN_1, done, spans=(1,), fingerprint="a" * 64, blessed=True, pushed_version=V1,
                metrics={"auc": 0.91, "binary_accuracy": 0.87})  # fmt: skip
    records.run(RUN_2, done, spans=(1, 2), fingerprint="b" * 64, blessed=True, reason=AGAINST_V1, pushed_version=V2,
                baseline_version=int(V1), metrics={"auc": 0.92, "binary_accuracy": 0.88})  # fmt: skip
    records.run(RUN_3, done, spans=(1, 2, 3), blessed=False, baseline_version=int(V1))
    base = str(serving_dir / MODEL)
    labels.apply_plan(labels.promotion(paths["config"], MODEL, base, V1, "stable"), None)
    labels.apply_plan(labels.relabel(paths["config"], MODEL, base, {"canary": int(V2)}, CANARY_REASON), None)
    records.decide(V2, "start", "canary at 50%", "2026-12-02T11:00:00+00:00")
    return paths


def _collect(paths: dict, **server) -> registry.Registry:
    return registry.collect(store_lib.connect(paths["metadata"]), paths["logs"], paths["config"], **server)


def _pushing_run(store, version: str) -> str:
    """The run of the execution that output the version's PushedModel, read from ML Metadata directly."""
    (pushed,) = [a for a in store.get_artifacts_by_type("PushedModel")
                 if a.custom_properties["pushed_version"].string_value == version]  # fmt: skip
    (event,) = [e for e in store.get_events_by_artifact_ids([pushed.id]) if e.type == e.OUTPUT]
    contexts = store.get_contexts_by_execution(event.execution_id)
    (run,) = [c.name for c in contexts if c.type == store_lib.RUN_CONTEXT]
    return run


def test_every_pushed_version_newest_first_with_its_facts(workspace):
    found = _collect(workspace)
    assert [v.version for v in found.versions] == [int(V2), int(V1)]  # RUN_3 pushed nothing
    newest, oldest = found.versions
    store = store_lib.connect(workspace["metadata"])
    assert (newest.run_id, oldest.run_id) == (_pushing_run(store, V2), _pushing_run(store, V1)) == (RUN_2, RUN_1)
    assert (newest.model, newest.path, newest.on_disk) == (MODEL, os.path.join(workspace["serving"], MODEL, V2), True)
    assert (newest.spans, newest.data_fingerprint) == ([1, 2], "b" * 64)
    assert (oldest.spans, oldest.data_fingerprint) == ([1], "a" * 64)
    assert newest.metrics == {"auc": 0.92, "binary_accuracy": 0.88} and oldest.metrics["auc"] == 0.91
    assert (newest.blessed, newest.blessing, newest.baseline_version) == (True, AGAINST_V1, int(V1))
    assert oldest.baseline_version is None and oldest.git_commit == CODE[store_lib.GIT_COMMIT]
    assert newest.pushed_at and newest.trained_in == RUN_2
    assert [(d["action"], d["reason"]) for d in newest.decisions] == [("start", "canary at 50%")]
    assert oldest.decisions == []
    assert {v.server for v in found.versions} == {registry.NOT_ASKED} and found.server is None


def test_labels_and_their_history_from_the_model_config(workspace):
    found = _collect(workspace)
    newest, oldest = found.versions
    config = labels.load(workspace["config"]).model_config_list.config[0]
    assert dict(config.version_labels) == {"stable": int(V1), "canary": int(V2)}
    assert (newest.labels, oldest.labels) == (["canary"], ["stable"])
    assert [(m["label"], m["from"], m["to"], m.get("reason")) for m in newest.label_history] == [
        ("canary", None, int(V2), CANARY_REASON)
    ]
    assert [(m["label"], m["from"], m["to"]) for m in oldest.label_history] == [("stable", None, int(V1))]
    # The canary withdrawn: V2 keeps the move away from it in its history, and no label.
    base = os.path.join(workspace["serving"], MODEL)
    labels.apply_plan(labels.relabel(workspace["config"], MODEL, base, {"canary": None}, "rolled back"), None)
    newest = _collect(workspace).versions[0]
    last = newest.label_history[-1]
    assert newest.labels == [] and (last["from"], last["to"], last["reason"]) == (int(V2), None, "rolled back")
    text = registry.format_registry(_collect(workspace))
    assert "canary left (removed) (rolled back)" in text and "canary -> here (new label)" in text


def test_no_model_config_yet_and_a_removed_folder(workspace):
    os.remove(workspace["config"])
    os.remove(workspace["config"] + ".history.json")
    os.remove(os.path.join(workspace["serving"], MODEL, V1, "saved_model.pb"))
    os.rmdir(os.path.join(workspace["serving"], MODEL, V1))
    found = _collect(workspace)
    assert not found.model_config_found and all(v.labels == [] and v.label_history == [] for v in found.versions)
    assert [v.on_disk for v in found.versions] == [True, False]
    assert "(folder removed)" in registry.format_registry(found)


def test_an_unreadable_model_config_is_one_error(workspace):
    with open(workspace["config"], "w") as f:
        f.write("model_config_list { config { nme: 'x' } }")
    with pytest.raises(registry.RegistryError, match="models.config"):
        _collect(workspace)


def test_loaded_versions_from_the_server_or_why_it_was_not_asked(workspace, monkeypatch):
    asked = []

    def status(address, protocol, models):
        asked.append((address, protocol, models))
        return {MODEL: {int(V1): "AVAILABLE"}}

    monkeypatch.setattr(registry, "ask_server", status)
    found = _collect(workspace, address="127.0.0.1:8500", protocol="rest")
    assert asked == [("127.0.0.1:8500", "rest", {MODEL})]
    assert [v.server for v in found.versions] == [registry.NOT_LOADED, "AVAILABLE"]
    monkeypatch.undo()
    closed = f"127.0.0.1:{free_port()}"
    found = _collect(workspace, address=closed)
    assert "cannot reach" in found.server_error and {v.server for v in found.versions} == {registry.UNKNOWN}
    assert f"loaded: asked {closed}: cannot reach" in registry.format_registry(found)


class _Links(html.parser.HTMLParser):
    """Every attribute that could load or link something."""

    def __init__(self):
        super().__init__()
        self.references: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.references += [value for name, value in attrs if name in ("src", "href", "srcset", "action") and value]


def test_the_html_page_is_self_contained(workspace, tmp_path):
    found = _collect(workspace)
    path = registry.write_html(found, str(tmp_path / "out" / "models.html"))
    page = open(path, encoding="utf-8").read()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE)
    links = _Links()
    links.feed(page)
    assert links.references and all(reference.startswith("#") for reference in links.references)
    assert not links.tags & {"script", "img", "link", "iframe", "object", "embed"}
    assert f'id="version-{V2}"' in page and f'id="detail-{V1}"' in page
    assert '<span class="label">canary</span>' in page and CANARY_REASON in page and "0.9200" in page
    assert "default-src 'none'" in page
    empty = registry.Registry([], "/nowhere/models.config", False, None, None, "now")
    assert "No version has been pushed" in registry.render_html(empty)
