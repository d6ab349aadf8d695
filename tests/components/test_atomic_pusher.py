"""The atomic Pusher: a version folder appears complete or not at all, whether the push is killed or its disk fills
up, and the copy a killed push left behind is removed by the next push; a model already in the serving folder (same
fingerprint) is never pushed again."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import tmpfs
from conftest import REPO, tree_digest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.atomic_pusher import executor, fingerprint, properties, publish

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


def _push(model_dir, base, blessed=True):
    """TFX's Pusher inputs around a Trainer-like Model artifact whose SavedModel is `model_dir`, run by our executor."""
    model = standard_artifacts.Model()
    model.uri = str(model_dir.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(model_dir.parent.parent / "pushed")
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
    executor.Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination), "custom_config": "null"},
    )
    return pushed


def test_a_model_already_in_the_serving_folder_is_never_pushed_again(tmp_path):
    base = tmp_path / "serving"
    first = _push(_model(tmp_path / "run-1" / "model" / "Format-Serving"), base)
    (version,) = _entries(base)
    assert first.get_int_custom_property("pushed") == 1
    assert first.get_string_custom_property("pushed_version") == version
    assert first.get_string_custom_property(properties.FINGERPRINT_PROPERTY) == fingerprint.fingerprint(
        str(base / version)
    )

    # The same files elsewhere (a cached Trainer output evaluated again): refused, naming the version that has them.
    again = tmp_path / "run-2" / "model" / "Format-Serving"
    shutil.copytree(base / version, again)
    refused = _push(again, base)
    assert refused.get_int_custom_property("pushed") == 0
    assert refused.get_int_custom_property(properties.IDENTICAL_VERSION_PROPERTY) == int(version)
    assert _entries(base) == [version]

    # One byte of the weights different: a new model, pushed as a new version.
    (again / "variables" / "variables.index").write_bytes(b"indeX")
    time.sleep(1)  # versions are Unix seconds
    assert _push(again, base).get_int_custom_property("pushed") == 1 and len(_entries(base)) == 2
    # Not blessed: never pushed, whatever its content.
    not_blessed = _push(_model(tmp_path / "run-3" / "model" / "Format-Serving"), base, blessed=False)
    assert not_blessed.get_int_custom_property("pushed") == 0


def test_the_fingerprint_is_the_content_not_the_place(tmp_path):
    model = _model(tmp_path / "a")
    copy = tmp_path / "elsewhere" / "b"
    shutil.copytree(model, copy)
    assert fingerprint.fingerprint(str(model)) == fingerprint.fingerprint(str(copy))
    assert fingerprint.fingerprint(str(model)).startswith("sha256:")
    (copy / "variables" / "variables.index").rename(copy / "variables" / "variables.idx")  # same bytes, other name
    assert fingerprint.fingerprint(str(copy)) != fingerprint.fingerprint(str(model))
    (copy / "variables" / "variables.idx").rename(copy / "variables" / "variables.index")
    (copy / "assets" / "vocabulary").write_bytes(b"")  # one more (empty) file
    assert fingerprint.fingerprint(str(copy)) != fingerprint.fingerprint(str(model))
