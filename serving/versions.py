"""Versions on disk in TF Serving's layout, `<base_path>/<version>/saved_model.pb`, and the version policies.

The one rule for which folders are versions, used by the server, the ServingBaseline component and the benchmark:
as in TF Serving, child folders whose names are whole numbers; and, as TensorFlow's loader needs, holding
saved_model.pb or saved_model.pbtxt (`complete_versions`). TF Serving's contract for writers: a version is complete
once saved_model.pb exists, so write it last, or write the folder elsewhere and rename it into place (as TFX's Pusher
and components/atomic_pusher do). On top of that, the server loads a version only once its files did not change
between two looks (`VersionWatch`), which keeps most other copies in progress out, but not one that pauses longer
than a look (see ModelManager for what happens when such a version's files change after it was loaded).
"""

import os

import tensorflow as tf
from tensorflow_serving.config import file_system_storage_path_source_pb2

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
MODEL_CONFIG_FILE = "models.config"  # kfx promote's and kfx rollout's model config, next to the model folders
STABLE = "stable"  # the label of the version that answers requests naming the model only
ServableVersionPolicy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy


def holds_saved_model(version_path: str) -> bool:
    """Whether a version folder holds saved_model.pb or saved_model.pbtxt, the file TensorFlow's loader reads."""
    return any(tf.io.gfile.exists(f"{version_path}/{name}") for name in SAVED_MODEL_FILES)


def complete_versions(base_path: str) -> dict[int, str]:
    """Version number -> folder, for each child folder of `base_path` named by a whole number and holding a model."""
    if not tf.io.gfile.isdir(base_path):
        return {}
    base = base_path.rstrip("/")
    found = {}
    for entry in tf.io.gfile.listdir(base_path):
        name = entry.rstrip("/")  # object stores list folders with a trailing slash
        path = f"{base}/{name}"
        # ASCII digits only, as TF Serving's SimpleAtoi: str.isdigit alone also accepts "²", which int() refuses.
        if name.isascii() and name.isdigit() and tf.io.gfile.isdir(path) and holds_saved_model(path):
            found[int(name)] = path
    return found


def latest_complete_version(base_path: str) -> tuple[int, str] | None:
    """(version, folder) of the highest complete version under `base_path`, the one TF Serving serves by default."""
    found = complete_versions(base_path)
    return (max(found), found[max(found)]) if found else None


def served_version(base_path: str) -> tuple[int, str] | None:
    """(version, folder) that answers the requests naming the model only: the `stable` label's version when the model
    config next to the model folders (`<base_path>/../models.config`, written by kfx promote and kfx rollout) labels a
    complete one, else the highest complete version (TF Serving's default). A version rolled back stays on disk but is
    no longer the served one. An unreadable model config is ignored here: the server reports it."""
    found = complete_versions(base_path)
    if not found:
        return None
    stable = _stable_label(base_path)
    if stable in found:
        return stable, found[stable]
    return max(found), found[max(found)]


def _stable_label(base_path: str) -> int | None:
    from serving.config import ConfigError, read_model_config_file

    model_dir = os.path.abspath(base_path.rstrip("/"))
    path = os.path.join(os.path.dirname(model_dir), MODEL_CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    try:
        models = read_model_config_file(path).model_config_list.config
    except ConfigError:
        return None
    for model in models:
        if os.path.abspath(model.base_path) == model_dir and STABLE in model.version_labels:
            return model.version_labels[STABLE]
    return None


def fingerprint(version_path: str) -> tuple | None:
    """(path, size, mtime) of every file, or None while the SavedModel file itself is missing."""
    if not holds_saved_model(version_path):
        return None
    files = []
    for folder, _, names in tf.io.gfile.walk(version_path):
        for name in names:
            path = f"{folder.rstrip('/')}/{name}"
            try:
                stat = tf.io.gfile.stat(path)
            except tf.errors.NotFoundError:  # removed between walk and stat: still changing
                return None
            files.append((path, stat.length, stat.mtime_nsec))
    return tuple(sorted(files))


def aspired(policy: ServableVersionPolicy, on_disk: list[int]) -> set[int]:
    """The versions a policy asks to serve among those on disk (default: the latest one)."""
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(on_disk)
    if choice == "specific":
        return set(policy.specific.versions) & set(on_disk)
    count = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions else 1
    return set(sorted(on_disk)[-count:])


class VersionWatch:
    """Remembers each version's fingerprint between looks; a version is ready when it did not change."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple | None] = {}

    def look(self, version_path: str) -> tuple[tuple | None, bool]:
        """(fingerprint now, whether it is the same as at the previous look)."""
        current = fingerprint(version_path)
        seen_before, previous = version_path in self._seen, self._seen.get(version_path)
        self._seen[version_path] = current
        return current, seen_before and current == previous

    def ready(self, version_path: str) -> tuple | None:
        """The fingerprint if the version is complete and unchanged since the last look, else None."""
        current, unchanged = self.look(version_path)
        return current if current is not None and unchanged else None

    def forget_missing(self, present_paths: set[str]) -> None:
        for path in set(self._seen) - present_paths:
            del self._seen[path]
