"""The pushed versions of a workspace and where each one stands: what `kfx models` shows. Nothing new is stored.

Each version comes from ML Metadata (lineage.py walks from its PushedModel to the Evaluator's blessing and the spans
WindowExampleGen read, with the run and commit of each step; rollout decisions hang off the same artifact), its
labels and their history from the model config file `kfx promote` and `kfx rollout` write (<serving dir>/models.config
and models.config.history.json), and, when a server address is given, whether the server has it loaded (TF Serving's
model status API). The metrics are the one fact ML Metadata lacks (see runs.py): they come from the summary of the
run that evaluated the version.
"""

import dataclasses
import datetime
import os
from typing import Any

from ml_metadata import metadata_store

from components.champion_evaluator import properties as evaluator_properties
from components.serving_baseline import executor as baseline_executor
from components.window_example_gen import window as window_executor
from monitoring import lineage as lineage_lib
from monitoring import pages
from monitoring import runs as runs_lib

TEMPLATE = "models.html.j2"
NOT_ASKED = "not asked"
NOT_LOADED = "not loaded"
UNKNOWN = "unknown"  # the server could not be asked


@dataclasses.dataclass
class Version:
    """One pushed version; None where nothing was recorded."""

    model: str
    version: int
    path: str
    on_disk: bool  # the version's folder is still in the serving folder
    pushed_at: str  # when the Pusher finished, local time
    run_id: str  # the run that pushed it
    trained_in: str  # the run whose Trainer made it (an earlier one when the Trainer's result was reused)
    git_commit: str | None  # of the code that trained it
    spans: list[int]
    data_fingerprint: str | None
    metrics: dict[str, float | None]
    blessed: bool | None
    blessing: str  # why it was blessed: the comparison with the version served when it was evaluated
    baseline_version: int | None  # the version it was compared with (None: nothing was served)
    labels: list[str]  # the labels pointing at it now
    label_history: list[dict[str, Any]]  # the label moves to or from it, oldest first: label, from, to, at, reason
    decisions: list[dict[str, Any]]  # `kfx rollout` decisions about it: action, time, reason
    server: str  # its state on the server asked (AVAILABLE, LOADING, ..., not loaded), or NOT_ASKED

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Registry:
    """Every pushed version, newest first, and where the labels were read."""

    versions: list[Version]
    model_config: str  # the model config file read (it may not exist yet)
    model_config_found: bool
    server: str | None  # the server asked, if any
    server_error: str | None  # why it could not be asked
    generated: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RegistryError(ValueError):
    """The model config or its history cannot be read; the message names the file."""


def collect(
    store: metadata_store.MetadataStore,
    logs_dir: str,
    model_config_path: str,
    address: str | None = None,
    protocol: str = "grpc",
) -> Registry:
    """Every pushed version in `store` with its labels from `model_config_path` and, with `address`, its state on
    the server there (`protocol`: grpc or rest); a server that cannot be asked is said in `server_error`."""
    labels, history = _labels(model_config_path)
    metrics = runs_lib.summary_metrics(logs_dir)
    lineages = [lineage_lib.served_lineage(store, v) for v in sorted(lineage_lib.pushed_versions(store), key=int)]
    models = {found.version: _model_name(found.path) for found in lineages}
    server_states, server_error = None, None
    if address:
        server_states, server_error = _ask(address, protocol, set(models.values()))
    versions = []
    for found in reversed(lineages):
        model = models[found.version]
        pusher, evaluator, trainer = found.step("Pusher"), found.step("Evaluator"), found.step("Trainer")
        examples = found.step("WindowExampleGen")
        data = examples.details if examples else {}
        evaluation = evaluator.details if evaluator else {}
        if server_states is not None:
            on_server = server_states.get(model, {}).get(found.version, NOT_LOADED)
        else:
            on_server = UNKNOWN if address else NOT_ASKED
        versions.append(
            Version(
                model=model,
                version=found.version,
                path=found.path,
                on_disk=os.path.isdir(found.path),
                pushed_at=pusher.finished if pusher else "",
                run_id=pusher.run_id if pusher else "",
                trained_in=trainer.run_id if trainer else "",
                git_commit=trainer.commit if trainer else None,
                spans=data.get(window_executor.WINDOW_PROPERTY, []),
                data_fingerprint=data.get(window_executor.FINGERPRINT_PROPERTY),
                metrics=metrics.get(evaluator.run_id if evaluator else "", {}),
                blessed=evaluation.get("blessed"),
                blessing=evaluation.get(evaluator_properties.REASON_PROPERTY, ""),
                baseline_version=evaluation.get("baseline", {}).get(baseline_executor.SERVED_VERSION_PROPERTY),
                labels=sorted(label for label, at in labels.get(model, {}).items() if at == found.version),
                label_history=_moves_of(history.get(model, {}), found.version),
                decisions=[
                    {"action": d.action, "time": d.time, "reason": d.reason} for d in found.decisions
                ],  # fmt: skip
                server=on_server,
            )
        )
    return Registry(
        versions,
        model_config_path,
        os.path.isfile(model_config_path),
        address,
        server_error,
        datetime.datetime.now().isoformat(" ", "seconds"),
    )


def _model_name(path: str) -> str:
    """The model of a pushed version, from its folder `<serving dir>/<model>/<version>`."""
    return os.path.basename(os.path.dirname(path.rstrip("/"))) if path else ""


def _ask(address: str, protocol: str, models: set[str]) -> tuple[dict[str, dict[int, str]] | None, str | None]:
    """(model -> version -> state, None), or (None, why) when the server cannot be asked: the list still shows."""
    from serving.client import ClientError

    try:
        return ask_server(address, protocol, models), None
    except ClientError as error:
        return None, str(error)


def _labels(path: str) -> tuple[dict[str, dict[str, int]], dict]:
    """(model -> label -> version, the history of label moves) from the model config file and its history."""
    if not os.path.isfile(path):
        return {}, {}
    from serving import labels as labels_lib  # TF Serving's config protos

    try:
        config = labels_lib.load(path)
        history = labels_lib.read_history(path)
    except labels_lib.LabelError as error:
        raise RegistryError(str(error)) from None
    labels = {model.name: dict(model.version_labels) for model in config.model_config_list.config}
    return labels, history


def _moves_of(model_history: dict[str, list[dict]], version: int) -> list[dict[str, Any]]:
    """The label moves that pointed a label at `version` or took one away from it, oldest first."""
    moves = [
        {"label": label, **move}
        for label, label_moves in model_history.items()
        for move in label_moves
        if version in (move.get("from"), move.get("to"))
    ]
    return sorted(moves, key=lambda move: move.get("at", ""))


def ask_server(address: str, protocol: str, models: set[str], timeout: float = 10.0) -> dict[str, dict[int, str]]:
    """Model -> version -> state (AVAILABLE, LOADING, UNLOADING, END, ...) from the server's model status API; a model
    the server does not serve has no versions. serving.client.ClientError when the server cannot be reached."""
    from tensorflow_serving.apis import get_model_status_pb2

    from serving import client as client_lib

    state_name = get_model_status_pb2.ModelVersionStatus.State.Name
    client = client_lib.connect(address, protocol, timeout)
    states: dict[str, dict[int, str]] = {}
    try:
        for model in sorted(models):
            try:
                response = client.status(model)
            except client_lib.ClientError as error:
                if "NOT_FOUND" in str(error) or "404" in str(error):  # gRPC / REST: the server does not serve it
                    states[model] = {}
                    continue
                raise
            states[model] = {status.version: state_name(status.state) for status in response.model_version_status}
    finally:
        client.close()
    return states


def format_registry(registry: Registry) -> str:
    """The versions as text: one block per version, newest first."""
    if not registry.versions:
        return "no version has been pushed in this workspace yet: run `kfx run` first"
    config = registry.model_config if registry.model_config_found else f"{registry.model_config} (none yet)"
    lines = [f"labels from {config}"]
    if registry.server:
        asked = f"asked {registry.server}" + (f": {registry.server_error}" if registry.server_error else "")
        lines.append(f"loaded: {asked}")
    for version in registry.versions:
        labels = ", ".join(version.labels) or "no label"
        gone = "" if version.on_disk else " (folder removed)"
        lines.append("")
        lines.append(f"{version.model} version {version.version}  [{labels}]  server: {version.server}{gone}")
        lines.append(f"  pushed     {version.pushed_at} by run {version.run_id}")
        commit = version.git_commit[:12] if version.git_commit else "not recorded"
        trained = "" if version.trained_in == version.run_id else f" (trained in run {version.trained_in})"
        lines.append(f"  code       commit {commit}{trained}")
        spans = ", ".join(map(str, version.spans)) or "-"
        lines.append(f"  data       spans {spans}, fingerprint {version.data_fingerprint or '-'}")
        metrics = ", ".join(f"{name} {runs_lib.metric_text(value)}" for name, value in version.metrics.items())
        lines.append(f"  metrics    {metrics or '- (no run summary)'}")
        blessed = {True: "blessed", False: "not blessed", None: "-"}[version.blessed]
        lines.append(f"  blessing   {blessed}: {version.blessing or 'no reason recorded'}")
        for move in version.label_history:
            lines.append(f"  label      {move['at']}  {_describe_move(move, version.version)}")
        for decision in version.decisions:
            lines.append(f"  rollout    {decision['time']}  {decision['action']}: {decision['reason']}")
    return "\n".join(lines)


def _describe_move(move: dict[str, Any], version: int) -> str:
    reason = f" ({move['reason']})" if move.get("reason") else ""
    if move.get("to") == version:
        came_from = f"from {move['from']}" if move.get("from") is not None else "new label"
        return f"{move['label']} -> here ({came_from}){reason}"
    went_to = f"to {move['to']}" if move.get("to") is not None else "removed"
    return f"{move['label']} left ({went_to}){reason}"


def render_html(registry: Registry) -> str:
    """The versions as one self-contained HTML page in the run report's style: it loads nothing."""
    environment = pages.environment(metric=runs_lib.metric_text)
    return environment.get_template(TEMPLATE).render(registry=registry)


def write_html(registry: Registry, path: str) -> str:
    """Writes the page to `path`; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(registry))
    return path
