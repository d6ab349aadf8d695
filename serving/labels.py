"""Promote and roll back served versions by rewriting the model config file both TF Serving and this server read.

`promote(V, label)` pins V in the model's `specific` version policy and points the label at it; the version the
label left stays loaded, so `rollback(label)` can point the label back at once. A history of label moves is kept
next to the config (`<config>.history.json`, each move with its time and, from `kfx rollout`, its reason), so
rollbacks go back one promotion at a time. `relabel` moves several labels in one config and can remove a label (a
removed label has nothing to roll back to). Versions that no label uses and no rollback needs are dropped from the
policy (and unloaded).

With a running server, both steps go through ModelService.HandleReloadConfigRequest, in TF Serving's safe order:
first a config that adds the version, then (once it is AVAILABLE) the one that moves the label. A version that
fails to load leaves the label, the config file and the server as they were. Files are written atomically (a
temporary file renamed over the old one), so a server polling the file never reads half of it.
"""

import dataclasses
import datetime
import json
import os
import tempfile
import time

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import versions as versions_lib
from serving.client import AVAILABLE, ClientError, GrpcClient
from serving.config import ConfigError, check_model_server_config, read_model_config_file

ModelServerConfig = model_server_config_pb2.ModelServerConfig
HEADER = "# TF Serving model config (ModelServerConfig, text format), written by `kfx promote` / `kfx rollback`.\n"


class LabelError(ValueError):
    """A promotion or rollback that cannot be done; nothing was changed."""


def initial_config(model_name: str, base_path: str) -> ModelServerConfig:
    """A config serving `model_name` from `base_path`, for a first promotion."""
    config = ModelServerConfig()
    config.model_config_list.config.add(
        name=model_name, base_path=os.path.abspath(base_path), model_platform="tensorflow"
    )
    return config


def load(path: str) -> ModelServerConfig:
    try:
        return read_model_config_file(path)
    except ConfigError as error:
        raise LabelError(str(error)) from None


def write(path: str, config: ModelServerConfig) -> None:
    """Writes the config atomically (temporary file in the same folder, then rename)."""
    check_model_server_config(config, path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".models.config.", delete=False) as f:
        f.write(HEADER + text_format.MessageToString(config))
    os.replace(f.name, path)


def _history_path(path: str) -> str:
    return path + ".history.json"


def read_history(path: str) -> dict:
    try:
        with open(_history_path(path)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise LabelError(f"{_history_path(path)} cannot be read ({error}); fix or delete it") from None


def _write_history(path: str, history: dict) -> None:
    target = _history_path(path)
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(os.path.abspath(target)), delete=False) as f:
        json.dump(history, f, indent=2)
    os.replace(f.name, target)


def model_config(config: ModelServerConfig, name: str):
    """The ModelConfig named `name`, or LabelError naming the models there are."""
    for model in config.model_config_list.config:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in config.model_config_list.config) or "none"
    raise LabelError(f"model '{name}' is not in the model config (models: {known})")


def _keep_versions(model, stack: dict, extra: set[int]) -> None:
    """Pins the labelled versions, each label's rollback target and `extra` in a specific policy (a removed label
    has no rollback target)."""
    keep = set(model.version_labels.values()) | extra
    keep |= {moves[-1]["from"] for moves in stack.values() if _rollback_target(moves) is not None}
    model.model_version_policy.specific.versions[:] = sorted(keep)


def _rollback_target(moves: list[dict]) -> int | None:
    return moves[-1]["from"] if moves and moves[-1]["to"] is not None else None


def plan_promotion(
    config: ModelServerConfig, history: dict, model_name: str, version: int, label: str, reason: str = ""
):
    """(config that only adds the version, config that also moves the label, new history)."""
    return plan_moves(config, history, model_name, {label: version}, reason)


def plan_moves(
    config: ModelServerConfig, history: dict, model_name: str, moves: dict[str, int | None], reason: str = ""
):
    """Several label moves at once (None removes the label): (config that only adds the new versions, config with
    every move, new history). Each move is recorded in the history with its time and `reason`."""
    updated = ModelServerConfig()
    updated.CopyFrom(config)
    model = model_config(updated, model_name)
    on_disk = versions_lib.complete_versions(model.base_path)
    stack = history.setdefault(model_name, {})
    current = dict(model.version_labels)
    for label, version in moves.items():
        if version is not None and version not in on_disk:
            listed = ", ".join(map(str, sorted(on_disk))) or "none"
            raise LabelError(
                f"version {version} of '{model_name}' is not a SavedModel under {model.base_path} "
                f"(versions there: {listed})"
            )
        if current.get(label) == version:
            raise LabelError(
                f"label '{label}' already points at version {version}"
                if version is not None
                else f"'{model_name}' has no label '{label}' to remove"
            )
    _keep_versions(model, stack, {v for v in moves.values() if v is not None} | set(current.values()))
    adding = ModelServerConfig()
    adding.CopyFrom(updated)
    for label, version in moves.items():
        if version is None:
            del model.version_labels[label]
        else:
            model.version_labels[label] = version
        move = {"from": current.get(label), "to": version, "at": _now()}
        stack.setdefault(label, []).append({**move, "reason": reason} if reason else move)
    _keep_versions(model, stack, set())
    return adding, updated, history


def plan_rollback(config: ModelServerConfig, history: dict, model_name: str, label: str):
    """(config with the label back on its previous version, new history, (from, to))."""
    updated = ModelServerConfig()
    updated.CopyFrom(config)
    model = model_config(updated, model_name)
    moves = history.get(model_name, {}).get(label, [])
    current = model.version_labels[label] if label in model.version_labels else None
    if _rollback_target(moves) is None or moves[-1]["to"] != current:
        raise LabelError(
            f"nothing to roll back: label '{label}' of '{model_name}' has no earlier version recorded by `kfx promote`"
        )
    move = moves.pop()
    model.version_labels[label] = move["from"]
    _keep_versions(model, history[model_name], set())
    return updated, history, (current, move["from"])


@dataclasses.dataclass(frozen=True)
class Plan:
    """A label move, checked and ready to `apply`: the config files to write in order and the history after it."""

    config_path: str
    steps: list[ModelServerConfig]
    history: dict
    model: str
    label: str
    before: int | None
    after: int | None  # None: the label was removed


def _target(config_path: str, model: str, base_path: str) -> tuple[ModelServerConfig, dict]:
    """The model config at `config_path` (or a first one serving `base_path`) and its history of label moves."""
    config = load(config_path) if os.path.exists(config_path) else initial_config(model, base_path)
    return config, read_history(config_path)


def promotion(config_path: str, model: str, base_path: str, version: str, label: str) -> Plan:
    """Plans pointing `label` at `version`, a version number or 'latest' (the newest on disk); LabelError if not."""
    config, history = _target(config_path, model, base_path)
    served = model_config(config, model)
    if version == "latest":
        latest = versions_lib.latest_complete_version(served.base_path)
        if latest is None:
            raise LabelError(f"no pushed version under {served.base_path}: run `kfx run` first")
        version = str(latest[0])
    if not (version.isascii() and version.isdigit()):
        raise LabelError(f"version '{version}' is not a version number (or 'latest')")
    before = served.version_labels.get(label)
    adding, final, history = plan_promotion(config, history, model, int(version), label)
    return Plan(config_path, [adding, final], history, model, label, before, int(version))


def relabel(
    config_path: str, model: str, base_path: str, moves: dict[str, int | None], reason: str, log_prefix: str = ""
) -> Plan:
    """Plans several label moves applied together (None removes a label), each recorded with `reason`; with
    `log_prefix`, a model that logs no requests gets every request logged there (`tfrecord`, sampling rate 1)."""
    config, history = _target(config_path, model, base_path)
    served = model_config(config, model)
    if log_prefix and not served.HasField("logging_config"):
        served.logging_config.log_collector_config.type = "tfrecord"
        served.logging_config.log_collector_config.filename_prefix = os.path.abspath(log_prefix)
        served.logging_config.sampling_config.sampling_rate = 1.0
    current = dict(model_config(config, model).version_labels)
    adding, final, history = plan_moves(config, history, model, moves, reason)
    added = [version for version in moves.values() if version is not None]
    label = next(iter(moves))
    steps = [adding, final] if added else [final]
    return Plan(config_path, steps, history, model, label, current.get(label), added[0] if added else None)


def rollback(config_path: str, model: str, base_path: str, label: str) -> Plan:
    """Plans moving `label` back to the version it pointed at before its last promotion; LabelError if none."""
    config, history = _target(config_path, model, base_path)
    final, history, (before, after) = plan_rollback(config, history, model, label)
    return Plan(config_path, [final], history, model, label, before, after)


def apply_plan(plan: Plan, server: str | None) -> bool:
    """Carries out `plan` (see `apply`); returns whether a running server took the change."""
    return apply(plan.config_path, plan.steps, plan.history, server, plan.model, plan.after)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _wait_available(client: GrpcClient, model: str, version: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = client.status(model, version).model_version_status
        except ClientError:
            statuses = []
        for status in statuses:
            if status.state == AVAILABLE:
                return
            if status.status.error_code:
                raise LabelError(f"version {version} failed to load: {status.status.error_message}")
        time.sleep(0.2)
    raise LabelError(f"version {version} did not become AVAILABLE within {timeout:.0f} s")


def apply(
    path: str,
    steps: list[ModelServerConfig],
    history: dict,
    server: str | None,
    model: str,
    version: int | None,
    wait_seconds: float = 300,
) -> bool:
    """Writes each step and, with a reachable server, reloads it (waiting for `version`, if any, after the first).

    Returns whether a server took the change. On failure the file and the server go back to the original config.
    """
    original = load(path) if os.path.exists(path) else None
    client = GrpcClient(server) if server else None
    try:
        live = client is not None and _reachable(client, model)
        for index, step in enumerate(steps):
            write(path, step)
            if live:
                client.reload_config(step)
                if index == 0 and version is not None:
                    _wait_available(client, model, version, wait_seconds)
    except (LabelError, ClientError) as error:
        if original is not None:
            write(path, original)
            if live:
                try:
                    client.reload_config(original)
                except ClientError:
                    pass
        raise LabelError(str(error)) from None
    finally:
        if client is not None:
            client.close()
    _write_history(path, history)
    return live


def _reachable(client: GrpcClient, model: str) -> bool:
    try:
        client.status(model)
    except ClientError as error:
        return "cannot reach" not in str(error)
    return True
