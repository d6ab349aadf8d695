"""The workspace lock between real processes: a second run is refused with the holder's details, and the lock of a
run killed with SIGKILL is free at once (the kernel releases it) and reported as that run's."""

import os
import socket
import subprocess
import sys

import pytest
from conftest import REPO

from runners.local import lock

# Takes the locks named on its command line, says so, and holds them until killed.
HOLD = """
import sys, time
from runners.local import lock
lock.acquire(sys.argv[1:])
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holders():
    """Starts processes that hold locks; kills whatever is left of them at the end."""
    started = []

    def hold(*paths: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, *paths], cwd=REPO, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline() == "held\n"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_second_holder_is_refused_with_the_first_ones_details(tmp_path, holders):
    path = str(tmp_path / lock.LOCK_FILE)
    holder = holders(path)
    with pytest.raises(lock.WorkspaceBusy) as refused:
        lock.acquire([path])
    message = str(refused.value)
    assert f"{tmp_path} is in use by another kfx run (pid {holder.pid} on {socket.gethostname()}, started " in message
    assert f"kfx {path}" in message  # the holder's command line


def test_the_lock_of_a_killed_run_is_taken_over_and_reported(tmp_path, holders):
    path = str(tmp_path / lock.LOCK_FILE)
    holder = holders(path)
    holder.kill()  # SIGKILL: the holder cannot clean anything up
    holder.wait()
    with lock.acquire([path]) as held:
        assert held.stale is not None and held.stale.pid == holder.pid
        with pytest.raises(lock.WorkspaceBusy, match=f"pid {os.getpid()} "):
            lock.acquire([path])  # now this process holds it
    with lock.acquire([path]) as held:
        assert held.stale is None  # released cleanly: nothing to report


def test_a_busy_second_lock_gives_back_the_first(tmp_path, holders):
    workspace, metadata = str(tmp_path / "ws.lock"), str(tmp_path / "metadata.sqlite.lock")
    holders(metadata)
    with pytest.raises(lock.WorkspaceBusy):
        lock.acquire([workspace, metadata])
    with lock.acquire([workspace]) as held:
        assert held.stale is None
