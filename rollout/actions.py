"""The moves of a rollout, in the order that never sends name-only traffic anywhere it should not go (CONTRACT.md):
- start: the routing weight first, then the `canary` (or `shadow`) label;
- promote: `stable` to the candidate and the candidate's label removed in one config, then the weight to 0;
- roll back: the weight to 0 first, then the candidate's label removed.
A model keeps its routing entry at weight 0 afterwards, so name-only requests go to `stable` (not the newest version).
Label moves go through serving.labels: atomic files, a running server reloaded in TF Serving's safe order, and the
history file with the reason of each move.
"""

import contextlib
import dataclasses
import fcntl
import os

from rollout import glue
from serving import labels
from serving import versions as versions_lib

MODEL_CONFIG_FILE = versions_lib.MODEL_CONFIG_FILE  # <serving dir>/models.config, as kfx serve and kfx promote
LOCK_FILE = ".rollout.lock"  # in the serving dir: one rollout move at a time (cron, kfx run's on_push, a user)
MODES = ("canary", "shadow")


class RolloutError(ValueError):
    """A rollout move that cannot be done; nothing was changed."""


class MoveFailed(RolloutError):
    """The move was tried and failed (a version that does not load); the labels and the server are as they were."""


@dataclasses.dataclass(frozen=True)
class Target:
    """The served model a rollout moves: its serving folder and the server to reload (None: files only)."""

    serving_dir: str
    model: str
    grpc_address: str | None

    @property
    def config_path(self) -> str:
        return os.path.join(self.serving_dir, MODEL_CONFIG_FILE)

    @property
    def routing_path(self) -> str:
        return os.path.join(self.serving_dir, glue.ROUTING_FILE)

    @property
    def base_path(self) -> str:
        return os.path.join(self.serving_dir, self.model)


@dataclasses.dataclass(frozen=True)
class Rollout:
    """A rollout in progress: the candidate's label, version and share, and since when."""

    model: str
    mode: str  # canary or shadow
    candidate: int
    stable: int | None
    share: float  # canary weight or shadow sample
    started: str  # ISO 8601, UTC: when the label moved to the candidate ("" if not recorded)


def labels_of(target: Target) -> dict[str, int]:
    """The model's version labels (none before the first promotion)."""
    if not os.path.exists(target.config_path):
        return {}
    try:
        return dict(labels.model_config(labels.load(target.config_path), target.model).version_labels)
    except labels.LabelError as error:
        raise RolloutError(str(error)) from None


def current(target: Target) -> Rollout | None:
    """The rollout in progress (a `canary` or `shadow` label), or None."""
    found = labels_of(target)
    mode = next((m for m in MODES if m in found), None)
    if mode is None:
        return None
    route = glue.read_routes(target.routing_path).get(target.model, {})
    moves = labels.read_history(target.config_path).get(target.model, {}).get(mode, [])
    started = next((m["at"] for m in reversed(moves) if m["to"] == found[mode]), "")
    share = route.get("canary_weight" if mode == "canary" else "shadow_sample", 0.0)
    return Rollout(target.model, mode, found[mode], found.get("stable"), share, started)


@contextlib.contextmanager
def _locked(target: Target, expected: "Rollout | None" = None):
    """Holds the serving folder's rollout lock (without waiting) and checks the rollout is still `expected`."""
    os.makedirs(target.serving_dir, exist_ok=True)
    with open(os.path.join(target.serving_dir, LOCK_FILE), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RolloutError(f"another kfx rollout is moving the labels of '{target.model}' now; try again") from None
        if expected is not None and current(target) != expected:
            raise RolloutError(f"the {expected.mode} of version {expected.candidate} changed while this step decided; "
                               "nothing was moved, the next step decides again")  # fmt: skip
        yield


def _route(target: Target, mode: str | None, share: float) -> None:
    weight = share if mode == "canary" else 0.0
    glue.write_route(target.routing_path, target.model, weight, share if mode == "shadow" else 0.0)


def _move(target: Target, moves: dict[str, int | None], reason: str, log_prefix: str = "") -> bool:
    try:
        plan = labels.relabel(target.config_path, target.model, target.base_path, moves, reason, log_prefix)
    except labels.LabelError as error:
        raise RolloutError(str(error)) from None
    try:
        return labels.apply_plan(plan, target.grpc_address)
    except labels.LabelError as error:
        raise MoveFailed(f"{error}; the labels and {target.config_path} are unchanged") from None


def start(target: Target, version: int, mode: str, share: float, reason: str, log_prefix: str = "") -> bool:
    """Puts a pushed version in canary or shadow; returns whether a running server took it. RolloutError if the
    version is not pushed, is already stable, there is no stable version, or a rollout is already in progress.
    Online quality needs the requests logged: a model that logs none gets every request logged at `log_prefix`."""
    if mode not in MODES:
        raise RolloutError(f"unknown rollout mode '{mode}'; use one of {', '.join(MODES)}")
    if not 0 < share <= 1:
        raise RolloutError(f"the {mode} share must be in (0, 1], got {share}")
    pushed = versions_lib.complete_versions(target.base_path)
    if version not in pushed:
        listed = ", ".join(map(str, sorted(pushed))) or "none"
        raise RolloutError(f"version {version} of '{target.model}' is not pushed under {target.base_path} "
                           f"(pushed: {listed})")  # fmt: skip
    found = labels_of(target)
    if "stable" not in found:
        raise RolloutError(f"'{target.model}' has no stable version to compare a {mode} with: point the stable "
                           "label at the served version first (kfx promote VERSION)")  # fmt: skip
    if found["stable"] == version:
        raise RolloutError(f"version {version} is already stable")
    running = current(target)
    if running is not None:
        raise RolloutError(f"version {running.candidate} is already in {running.mode} since {running.started}: "
                           "let `kfx rollout step` finish it, or `kfx rollout abort`")  # fmt: skip
    with _locked(target):
        if current(target) is not None:
            raise RolloutError(f"another rollout of '{target.model}' started meanwhile")
        before = glue.read_routes(target.routing_path).get(target.model)
        _route(target, mode, share)
        try:
            return _move(target, {mode: version}, reason, log_prefix)
        except RolloutError:
            if before is None:
                _route(target, None, 0.0)
            else:
                glue.write_route(target.routing_path, target.model, before["canary_weight"], before["shadow_sample"])
            raise


def promote(target: Target, rollout: Rollout, reason: str) -> bool:
    """`stable` to the candidate and its label removed, then its weight to 0."""
    with _locked(target, rollout):
        live = _move(target, {"stable": rollout.candidate, rollout.mode: None}, reason)
        _route(target, None, 0.0)
        return live


def roll_back(target: Target, rollout: Rollout, reason: str) -> bool:
    """The weight to 0, then the candidate's label removed (its version unloaded)."""
    with _locked(target, rollout):
        _route(target, None, 0.0)
        return _move(target, {rollout.mode: None}, reason)


def first_stable(target: Target, version: int, reason: str) -> bool:
    """Points `stable` at the first version of a model that has none (nothing to compare a canary with)."""
    with _locked(target):
        _route(target, None, 0.0)
        return _move(target, {"stable": version}, reason)
