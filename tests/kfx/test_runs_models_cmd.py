"""`kfx runs` and `kfx models` as a user runs them, on a workspace whose ML Metadata holds hand-written runs
(tests/mlmd_records.py): the table, JSON equal to what the library reads, the run holding the workspace shown as
running, the HTML page, bad input in one line; and (slow) the versions a real `kfx serve` has loaded."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
from conftest import run_kfx
from mlmd_records import MODEL, Records, states_until
from server_process import ServerProcess

from monitoring import registry
from monitoring import runs as runs_lib
from monitoring import store as store_lib
from runners.local import lock
from serving import labels

V1, V2 = "1700000001", "1700000002"
RUN_1, RUN_2, RUN_3 = "2026-12-01T10:00:00.000001", "2026-12-02T10:00:00.000001", "2026-12-03T10:00:00.000001"
KFX = [sys.executable, "-m", "kfx.cli"]


def _workspace(root, save_version=None) -> str:
    """<root>/ws: V1 pushed and promoted to stable, V2 pushed, then a run still at its Trainer (RUNNING)."""
    workspace = root / "ws"
    serving = workspace / "serving_model"
    for version in (V1, V2):
        path = serving / MODEL / version
        if save_version:
            save_version(str(path), float(version[-1]))
        else:
            path.mkdir(parents=True)
            (path / "saved_model.pb").write_bytes(b"a model")
    records = Records(str(workspace / "metadata.sqlite"), str(serving), str(workspace / "logs"))
    done = states_until("Pusher", "COMPLETE")
    records.run(RUN_1, done, blessed=True, pushed_version=V1, metrics={"auc": 0.91, "binary_accuracy": 0.87})
    records.run(RUN_2, done, spans=(1, 2), blessed=True, pushed_version=V2, baseline_version=int(V1))
    records.run(RUN_3, states_until("Trainer", "RUNNING"), spans=(1, 2, 3))
    config = str(serving / "models.config")  # as `kfx promote` writes it with no server running
    labels.apply_plan(labels.promotion(config, MODEL, str(serving / MODEL), V1, "stable"), None)
    return str(workspace)


@pytest.fixture
def workspace(tmp_path) -> str:
    return _workspace(tmp_path)


def test_runs_table_and_json(workspace):
    result = run_kfx("runs", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["RUN", "STARTED", "TOOK", "OUTCOME"]
    assert [line.split()[0] for line in lines[1:4]] == [RUN_3, RUN_2, RUN_1]
    assert "interrupted" in lines[1] and lines[3].split()[-3:] == ["0.9100", "0.8700", V1]
    as_json = run_kfx("runs", "--workspace", workspace, "--json")
    assert as_json.returncode == 0, as_json.stderr
    expected = runs_lib.list_runs(store_lib.connect(os.path.join(workspace, "metadata.sqlite")),
                                  os.path.join(workspace, "logs"))  # fmt: skip
    assert json.loads(as_json.stdout) == [run.to_dict() for run in expected]


def test_the_run_holding_the_workspace_is_running(workspace):
    # A process whose command line names kfx stands for the run that holds the lock.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "kfx"])
    lock_file = os.path.join(workspace, lock.LOCK_FILE)
    try:
        details = {"pid": holder.pid, "host": socket.gethostname(), "started": "now", "command": "kfx run"}
        with open(lock_file, "w") as f:
            json.dump(details, f)
        listed = json.loads(run_kfx("runs", "--workspace", workspace, "--json").stdout)
        assert [(run["run_id"], run["outcome"]) for run in listed][:2] == [(RUN_3, "running"), (RUN_2, "pushed")]
    finally:
        holder.kill()
        holder.wait()
    listed = json.loads(run_kfx("runs", "--workspace", workspace, "--json").stdout)  # its process is gone
    assert listed[0]["outcome"] == "interrupted"


def test_models_text_json_and_html(workspace, tmp_path):
    page = tmp_path / "models.html"
    result = run_kfx("models", "--workspace", workspace, "--html", str(page))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"{MODEL} version ") == 2 and "server: not asked" in result.stdout
    assert f"{MODEL} version {V1}  [stable]" in result.stdout and f"wrote {page}" in result.stdout
    assert f'id="version-{V1}"' in page.read_text() and not re.search("https?://", page.read_text())
    as_json = run_kfx("models", "--workspace", workspace, "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    expected = registry.collect(store_lib.connect(os.path.join(workspace, "metadata.sqlite")),
                                os.path.join(workspace, "logs"),
                                os.path.join(workspace, "serving_model", "models.config")).to_dict()  # fmt: skip
    assert {k: v for k, v in document.items() if k != "generated"} == {
        k: v for k, v in expected.items() if k != "generated"
    }
    assert [(v["version"], v["labels"], v["run_id"]) for v in document["versions"]] == [
        (int(V2), [], RUN_2),
        (int(V1), ["stable"], RUN_1),
    ]


def test_bad_input_is_one_line(tmp_path, workspace):
    for command in ("runs", "models"):
        result = run_kfx(command, "--workspace", str(tmp_path / "nowhere"))
        assert result.returncode == 2 and "no ML Metadata at" in result.stderr and "Traceback" not in result.stderr
    with open(os.path.join(workspace, "serving_model", "models.config"), "w") as f:
        f.write("not a config {")
    result = run_kfx("models", "--workspace", workspace)
    assert result.returncode == 2 and "models.config" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_models_asks_a_running_server_which_versions_it_has_loaded(tmp_path):
    from toy_model import save_toy_model

    workspace = _workspace(tmp_path, save_version=lambda path, offset: save_toy_model(path, offset=offset))
    serving = os.path.join(workspace, "serving_model")
    # kfx serve serves models.config: the stable version only (kfx promote pinned it).
    server = ServerProcess([*KFX, "serve", "--serving-dir", serving], str(tmp_path / "serve.log"),
                           ready_models=(MODEL,)).start()  # fmt: skip
    try:
        for protocol, address in (("grpc", server.grpc), ("rest", server.rest)):
            result = run_kfx("models", "--workspace", workspace, "--json", "--address", address,
                             "--protocol", protocol)  # fmt: skip
            assert result.returncode == 0, result.stderr
            document = json.loads(result.stdout)
            assert (document["server"], document["server_error"]) == (address, None)
            assert [(v["version"], v["server"]) for v in document["versions"]] == [
                (int(V2), registry.NOT_LOADED),
                (int(V1), "AVAILABLE"),
            ]
    finally:
        assert server.stop() == 0, server.output()
    result = run_kfx("models", "--workspace", workspace, "--address", server.grpc)
    assert result.returncode == 0 and "cannot reach" in result.stdout and "server: unknown" in result.stdout
