"""Where a component's time goes: py-spy samples a `kfx run`'s process tree while each component runs.

`kfx run` prints `  [ 3/12] Transform          ...` when a component starts and ` done 24.8s` when it ends; the
benchmark reads that output as it comes and keeps one py-spy recording per component (Beam's worker threads and
processes included, so the samples are not only the executor's thread). A recording is py-spy's raw format: one
line per distinct stack, `frame;frame;...;leaf count`. Sampling is non-blocking (the run is not paused), at 50 Hz.
"""

import collections
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys

_STARTED = re.compile(r"\[\s*\d+/\d+\] (\S+)\s+\.\.\.")
_ENDED = re.compile(r" (?:done|cached|FAILED)\b")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
TOP = 12


class ComponentProfiler:
    """Feed it the run's console output; it starts py-spy on `pid` when a component starts and stops it when the
    component ends, writing `<folder>/<component>.txt`."""

    def __init__(self, pid: int, folder: str):
        self._pid, self._folder = pid, folder
        self._pending = ""
        self._current: tuple[str, subprocess.Popen] | None = None
        self.recordings: dict[str, str] = {}
        os.makedirs(folder, exist_ok=True)

    @staticmethod
    def available() -> bool:
        return _py_spy() is not None

    def feed(self, text: str) -> None:
        self._pending += text
        while True:
            started = _STARTED.search(self._pending)
            ended = _ENDED.search(self._pending) if self._current else None
            if ended and (not started or ended.start() < started.start()):
                self._stop()
                self._pending = self._pending[ended.end() :]
            elif started and not self._current:
                self._start(started.group(1))
                self._pending = self._pending[started.end() :]
            else:
                self._pending = self._pending[-200:]
                return

    def close(self) -> None:
        if self._current:
            self._stop()

    def _start(self, component: str) -> None:
        path = os.path.join(self._folder, f"{component}.txt")
        command = [_py_spy(), "record", "--pid", str(self._pid), "--subprocesses", "--nonblocking"]
        command += ["--rate", "50", "--format", "raw", "--output", path]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._current = (component, spy)
        self.recordings[component] = path

    def _stop(self) -> None:
        component, spy = self._current
        self._current = None
        spy.send_signal(signal.SIGINT)  # py-spy writes its recording on Ctrl-C
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()


def _py_spy() -> str | None:
    """py-spy of this interpreter's environment (the dev extras), else one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.path.exists(beside) else shutil.which("py-spy")


def summary(path: str, top: int = TOP) -> dict:
    """The busiest functions of a recording (own samples: the leaf frame) and the libraries the time is spent in
    (by the leaf frame's top-level package, e.g. `tensorflow_model_analysis`, `apache_beam`, this project's
    `components`), as shares of the samples; idle waits (threads blocked in a lock, a poll or a server loop) are left
    out of both."""
    own: collections.Counter = collections.Counter()
    libraries: collections.Counter = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            leaf = _short(stack.rsplit(";", 1)[-1])
            if _idle(leaf):
                continue
            total += int(count)
            own[leaf] += int(count)
            libraries[_library(leaf)] += int(count)

    def shares(counter: collections.Counter) -> list[dict]:
        return [{"function": f, "share": round(n / total, 3)} for f, n in counter.most_common(top)] if total else []

    return {"samples": total, "own": shares(own), "libraries": shares(libraries)}


def _short(frame: str) -> str:
    """`process (apache_beam/.../bundle_processor.py)` from py-spy's `process (/abs/path/.../x.py:123)`."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/work/", "lib/python3.10/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('function')} ({path})"


# Leaf frames of threads that wait (in C, which py-spy cannot always tell from work): locks, polls, gRPC's server
# loop and idle pool workers of Beam's in-memory runner.
_WAITS = {"wait", "select", "poll", "epoll_wait", "_wait_for_tstate_lock", "sleep"}
_IDLE_LEAVES = {"_serve (grpc/_server.py)", "run (threading.py)", "_worker (concurrent/futures/thread.py)"}


def _idle(frame: str) -> bool:
    return frame.split(" ", 1)[0] in _WAITS or frame in _IDLE_LEAVES


def _library(frame: str) -> str:
    """`tensorflow_model_analysis` from `rebin (tensorflow_model_analysis/metrics/calibration_histogram.py)`."""
    path = frame.rpartition(" (")[2].rstrip(")")
    return path.split("/", 1)[0] if "/" in path else path or "?"


def markdown(component: str, seconds: float, found: dict) -> str:
    if not found["samples"]:
        return f"No samples of {component} (py-spy missing or not allowed to attach).\n"
    lines = [
        f"### Profile of the slowest component: {component} ({seconds} s, {found['samples']:,} busy samples at 50 Hz)",
        "",
        "| own share | function | | share | library |",
        "|---|---|---|---|---|",
    ]
    for own, library in itertools.zip_longest(found["own"], found["libraries"]):
        left = f"{own['share']:.1%} | `{own['function']}`" if own else " | "
        right = f"{library['share']:.1%} | {library['function']}" if library else " | "
        lines.append(f"| {left} | | {right} |")
    return "\n".join(lines) + "\n"
