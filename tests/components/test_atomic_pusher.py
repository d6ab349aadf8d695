"""The atomic Pusher's publish step: a version folder appears complete or not at all, whether the push is killed or
its disk fills up, and the copy a killed push left behind is removed by the next push."""

import os
import subprocess
import sys

import pytest
import tmpfs
from conftest import REPO, tree_digest

from components.atomic_pusher import publish

# Publishes argv[1] to argv[2] as version argv[3], but hangs after copying the first file, printing its target.
HANGING_PUSH = """
import sys, time
from components.atomic_pusher import publish
copy = publish.copy_file
def copy_then_hang(source, target):
    copy(source, target)
    print(target, flush=True)
    time.sleep(600)
publish.copy_file = copy_then_hang
publish.publish(*sys.argv[1:])
"""


def _model(path, weights_bytes=1024):
    """A SavedModel-shaped folder: the graph, variables and an empty assets folder."""
    (path / "variables").mkdir(parents=True)
    (path / "assets").mkdir()
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(weights_bytes))
    (path / "variables" / "variables.index").write_bytes(b"index")
    (path / "saved_model.pb").write_bytes(b"graph")
    return path


def _entries(base):
    return sorted(os.listdir(base))


def test_the_version_appears_complete_in_one_step(tmp_path, monkeypatch):
    model, base = _model(tmp_path / "model"), tmp_path / "serving"
    copies = []

    def watched_copy(source, target):
        publish.fileio.copy(source, target)
        copies.append((os.path.basename(target), _entries(base)))

    monkeypatch.setattr(publish, "copy_file", watched_copy)
    path = publish.publish(str(model), str(base), "100")
    assert path == str(base / "100") and tree_digest(path) == tree_digest(str(model))
    assert os.path.isdir(base / "100" / "assets")
    assert all(entries == [".incomplete-100"] for _, entries in copies)  # never a partial "100/" while copying
    assert copies[-1][0] == publish.SAVED_MODEL_FILE
    assert _entries(base) == ["100"]
    assert publish.publish(str(model), str(base), "100") == path  # an existing version is left as it is


def test_a_killed_push_leaves_no_version_and_the_next_push_removes_its_copy(tmp_path):
    model, base = _model(tmp_path / "model"), tmp_path / "serving"
    push = subprocess.Popen(
        [sys.executable, "-c", HANGING_PUSH, str(model), str(base), "100"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    copied = push.stdout.readline().strip()
    push.kill()
    push.wait()
    assert copied.startswith(str(base / ".incomplete-100") + os.sep), copied
    assert _entries(base) == [".incomplete-100"]
    publish.publish(str(model), str(base), "200")
    assert _entries(base) == ["200"] and tree_digest(str(base / "200")) == tree_digest(str(model))


def test_a_full_disk_fails_the_push_and_leaves_the_served_version_alone(tmp_path):
    with tmpfs.mounted(str(tmp_path / "disk"), 1024 * 1024) as disk:
        base = os.path.join(disk, "serving")
        publish.publish(str(_model(tmp_path / "small", 100_000)), base, "100")
        served = tree_digest(os.path.join(base, "100"))
        with pytest.raises(Exception, match="No space left on device"):  # TensorFlow's ResourceExhaustedError
            publish.publish(str(_model(tmp_path / "large", 2 * 1024 * 1024)), base, "200")
        assert _entries(base) == ["100"] and tree_digest(os.path.join(base, "100")) == served
