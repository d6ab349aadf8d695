"""Publishes a SavedModel as `<base>/<version>/` so that TF Serving never finds a partial version.

TF Serving loads a version folder as soon as it appears, so a push killed mid-copy (or stopped by a full disk)
would leave a broken version in TFX's Pusher, which copies straight into place. On a local file system the model is
copied into a hidden folder beside the versions and renamed into place: rename(2) is atomic, so a version is either
absent or complete. Hidden folders left by a killed push are removed by the next push. Object stores (gs://, s3://)
have no atomic rename: there the model is copied in place with saved_model.pb last, the file TF Serving needs
(TFX's own order).
"""

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator

from tfx.dsl.io import fileio

SAVED_MODEL_FILE = "saved_model.pb"
# `.incomplete-<version>`: hidden, and not an integer, so TF Serving and version listings never take it for a model.
INCOMPLETE_PREFIX = ".incomplete-"

# One file copy; a module attribute so that a test can slow a real push down and kill it mid-copy.
copy_file = fileio.copy


def publish(model_dir: str, base_dir: str, version: str) -> str:
    """Copies the SavedModel in `model_dir` to `<base_dir>/<version>/` and returns that path.

    An existing version folder is left as it is (TFX's Pusher skips it too).
    """
    target = os.path.join(base_dir, version)
    if "://" in base_dir:
        if not fileio.exists(target):
            copy_saved_model(model_dir, target)
        return target
    os.makedirs(base_dir, exist_ok=True)
    with _push_lock(base_dir):
        remove_incomplete(base_dir)
        if os.path.exists(target):
            return target
        staging = os.path.join(base_dir, INCOMPLETE_PREFIX + version)
        try:
            copy_saved_model(model_dir, staging)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # e.g. a full disk: leave nothing half-copied behind
            raise
    return target


def remove_incomplete(base_dir: str) -> list[str]:
    """Removes the hidden folders of pushes that never finished; returns their paths."""
    leftovers = [os.path.join(base_dir, name) for name in os.listdir(base_dir) if name.startswith(INCOMPLETE_PREFIX)]
    for path in leftovers:
        shutil.rmtree(path)
    return leftovers


def copy_saved_model(source: str, target: str) -> None:
    """Copies every folder and file of `source` into `target`, saved_model.pb last."""
    files = []
    for folder, _, names in fileio.walk(source):
        fileio.makedirs(_beside(source, folder, target))
        files += [os.path.join(folder, name) for name in names]
    for path in sorted(files, key=lambda path: os.path.basename(path) == SAVED_MODEL_FILE):
        copy_file(path, _beside(source, path, target))


def _beside(source: str, path: str, target: str) -> str:
    """`path` under `source` -> the same place under `target` (string work only: keeps `gs://` intact)."""
    relative = os.path.relpath(path, source)
    return target if relative == "." else os.path.join(target, relative)


@contextlib.contextmanager
def _push_lock(base_dir: str) -> Iterator[None]:
    """One push at a time per folder, so that what `remove_incomplete` finds can only be a dead push's.

    The lock is on the folder itself: a lock file would show up among the versions.
    """
    fd = os.open(base_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
