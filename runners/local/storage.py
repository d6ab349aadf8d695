"""The disk under the workspace: folders checked before a run, and disk failures during one told in one line."""

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator

# What each error means for the user, and what to do about it.
_REASONS = {
    errno.ENOSPC: ("the disk is full", "free some space or use a --workspace on a larger disk"),
    errno.EDQUOT: ("the disk quota is used up", "free some space or use a --workspace on another disk"),
    errno.EROFS: ("the file system is read-only", "choose a --workspace that can be written"),
    errno.EACCES: ("permission denied", "fix its permissions or choose another --workspace"),
    errno.EPERM: ("permission denied", "fix its permissions or choose another --workspace"),
    errno.ENOTDIR: ("a file is in the way of a folder", "move the file or choose another --workspace"),
}
# The disk errors a run can meet once it has started (the others are found by `prepare`).
_RUN_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
# How native code (TensorFlow, SQLite under ML Metadata, Beam) words the same errors in its messages.
_MESSAGES = {
    "no space left on device": errno.ENOSPC,
    "database or disk is full": errno.ENOSPC,
    "disk quota exceeded": errno.EDQUOT,
    "read-only file system": errno.EROFS,
    "attempt to write a readonly database": errno.EROFS,
}
# SQLite rolls a transaction back by itself when a write fails for want of space (SQLITE_FULL), and ML Metadata then
# reports only the failed COMMIT. Taken as a full disk when the workspace's disk is nearly full once the run failed.
_ROLLED_BACK = "cannot commit - no transaction is active"
_NEARLY_FULL_BYTES = 64 * 2**20


def prepare(folders: list[str]) -> None:
    """Creates each folder and writes a probe file in it (permission bits miss read-only mounts and root).

    Raises OSError whose `filename` is the path in the way.
    """
    for folder in folders:
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except (FileExistsError, NotADirectoryError):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), _file_in_the_way(folder)) from None
        except OSError as error:
            raise OSError(error.errno, error.strerror, folder) from None


def describe(error: OSError) -> str:
    """`cannot write <path>: <reason>; <fix>` for an OSError raised while preparing or locking the workspace."""
    reason, fix = _REASONS.get(error.errno, (error.strerror, "check the folder or choose another --workspace"))
    return f"cannot write {error.filename}: {reason}; {fix}"


def explain(error: BaseException, folders: list[str]) -> str | None:
    """One line for a run that failed because its disk filled up or turned read-only, naming the place; else None."""
    code, path = _disk_error(error)
    if code is None and _rolled_back(error) and min(map(_free_bytes, folders)) < _NEARLY_FULL_BYTES:
        code = errno.ENOSPC
    if code is None:
        return None
    reason, fix = _REASONS[code]
    if code == errno.EROFS:
        folder, left = next((f for f in folders if not os.access(f, os.W_OK)), folders[0]), ""
    else:
        folder = min(folders, key=_free_bytes)
        left = f" ({_free_bytes(folder) / 2**20:.1f} MiB left on the disk of {folder})"
    return f"cannot write {path or folder}: {reason}{left}; {fix}"


def _disk_error(error: BaseException) -> tuple[int | None, str | None]:
    """The errno (full or read-only disk) and file name in `error` or the errors behind it, else (None, None)."""
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in _RUN_ERRORS:
            return cause.errno, cause.filename
        text = str(cause).lower()
        for message, code in _MESSAGES.items():
            if message in text:
                return code, None
    return None, None


def _rolled_back(error: BaseException) -> bool:
    """Whether `error` or an error behind it is SQLite's refusal to commit a transaction it already rolled back."""
    return any(_ROLLED_BACK in str(cause) for cause in _chain(error))


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error` and the errors behind it (causes first, then contexts), each once."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _free_bytes(folder: str) -> float:
    return shutil.disk_usage(folder).free if os.path.isdir(folder) else float("inf")


def _file_in_the_way(folder: str) -> str:
    """The nearest existing path at or above `folder` that is not a folder."""
    path = folder
    while not os.path.exists(path) or os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            return folder
        path = parent
    return path
