"""The identity of a SavedModel's content: a SHA-256 over every file's relative path and bytes.

Two folders have the same fingerprint exactly when they hold the same files with the same bytes, wherever they are
(a Trainer's output, a copy under the serving folder, ServingBaseline's copy). It is what "the same model" means for
the Pusher, which never pushes a model identical to a version already in the serving folder: a model reused from
the cache and evaluated again is the served one, not a new version.
"""

import hashlib
import os

from tfx.dsl.io import fileio

PREFIX = "sha256:"
_CHUNK = 1 << 20


def fingerprint(model_dir: str) -> str:
    """`sha256:<hex>` of the files under `model_dir` (paths relative to it, in sorted order, and their bytes)."""
    files = []
    for folder, _, names in fileio.walk(model_dir):
        files += [os.path.join(folder, name) for name in names]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda path: os.path.relpath(path, model_dir)):
        file_digest = hashlib.sha256()
        with fileio.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                file_digest.update(chunk)
        # The relative path, then the file's own digest: no two different trees can give the same input.
        digest.update(os.path.relpath(path, model_dir).encode() + b"\0" + file_digest.digest())
    return PREFIX + digest.hexdigest()


def identical_version(wanted: str, versions: dict[int, str]) -> int | None:
    """The newest of `versions` (number -> folder) whose fingerprint is `wanted`, or None."""
    for version in sorted(versions, reverse=True):  # the newest first: usually the served one
        if fingerprint(versions[version]) == wanted:
            return version
    return None
