"""One `kfx run` per workspace at a time: an OS lock (flock) on `<workspace>/run.lock`, the holder's details inside.

The kernel releases a flock when its process ends, however it ends (kill -9 included), so the lock itself is never
stale. Details found in a lock file that could be taken are a dead run's: it ended without releasing the workspace
(killed, or its machine went down), and the next run says so and takes over.
"""

import dataclasses
import datetime
import fcntl
import json
import os
import shlex
import socket
import sys

LOCK_FILE = "run.lock"


class WorkspaceBusy(RuntimeError):
    """Another run holds the workspace; the message names it."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """The run that holds (or held) a lock."""

    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}: {self.command}"


class WorkspaceLock:
    """Held from `acquire` until `release` (a context manager releases it on exit) or until the process ends."""

    def __init__(self, fds: list[int], stale: Holder | None):
        self._fds = fds
        self.stale = stale  # the run that held the workspace last and never released it, if any

    def release(self) -> None:
        for fd in self._fds:
            os.ftruncate(fd, 0)  # an empty lock file: the last run ended cleanly
            os.close(fd)  # closing releases the flock
        self._fds = []

    def __enter__(self) -> "WorkspaceLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def acquire(lock_paths: list[str]) -> WorkspaceLock:
    """Takes every lock in `lock_paths` without waiting.

    Raises WorkspaceBusy naming the holder when another run has one, OSError when a lock file cannot be written.
    """
    fds: list[int] = []
    try:
        for path in lock_paths:
            fds.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
            try:
                fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fds[-1])
                who = holder.describe() if holder else "its details are not written yet"
                raise WorkspaceBusy(
                    f"{os.path.dirname(path)} is in use by another kfx run ({who}); wait for it to end, or stop it, "
                    "then run again"
                ) from None
        stale = next(filter(None, map(_read, fds)), None)
        for path, fd in zip(lock_paths, fds, strict=True):
            _write(path, fd, _this_run())
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return WorkspaceLock(fds, stale)


def _this_run() -> Holder:
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return Holder(os.getpid(), socket.gethostname(), started, shlex.join(["kfx", *sys.argv[1:]]))


def _write(path: str, fd: int, holder: Holder) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(dataclasses.asdict(holder)).encode(), 0)
    except OSError as error:  # a full disk: name the file, which a write on a descriptor does not
        raise OSError(error.errno, error.strerror, path) from None


def _read(fd: int) -> Holder | None:
    try:
        return Holder(**json.loads(os.pread(fd, 65536, 0)))
    except (ValueError, TypeError):  # empty (released cleanly, or not written yet) or not ours
        return None


def live_holder(lock_paths: list[str]) -> Holder | None:
    """The run holding one of `lock_paths` now, read without taking the lock (a read-only view must never make a
    starting `kfx run` find the workspace busy): details left by a run whose process still lives on this host.

    A run on another host (a shared ML Metadata file) cannot be checked from here and counts as live.
    """
    for path in lock_paths:
        try:
            with open(path) as f:
                holder = Holder(**json.loads(f.read()))
        except (OSError, ValueError, TypeError):  # no lock file, or empty: no run, or the last one ended cleanly
            continue
        if holder.host != socket.gethostname() or _alive(holder.pid):
            return holder
    return None


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and, where /proc tells, is a kfx command (a dead run's pid may be reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"kfx" in f.read()
    except OSError:
        return True
