"""A version copied in place in the wrong order, saved_model.pb first, with a pause in the middle of its vocabulary.

TF Serving's contract is that saved_model.pb is written last (or the folder is renamed into place); a copy that
breaks it and pauses longer than the server's look gets loaded half-written, by TF Serving as by this server. What
this server adds, checked here on a real server: the served version's changed files are reported (status and
metric), and the version is reloaded from the complete files once they stop changing.
"""

import http.client
import json
import os
import shutil
import threading
import time

from server_process import builtin_server
from toy_model import save_toy_model

from serving.client import GrpcClient

VOCABULARY = [f"word{i}" for i in range(2000)]
ASKED = ["word0", "word1999"]  # the second is in the half of the vocabulary written after the pause
FULL, HALF = [0, 1999], [0, -1]
CHANGED_GAUGE = ':kfx:serving:version_files_changed{model_name="toy",version="2"}'


def copy_pausing_in(source: str, target: str, paused_file: str, pause: float) -> None:
    """saved_model.pb first, then every other file; `paused_file` last, the lines after its middle written after
    `pause` (a cut inside a line would fail the load instead: a repeated key in the vocabulary)."""
    files = sorted(
        (os.path.relpath(os.path.join(folder, name), source) for folder, _, names in os.walk(source) for name in names),
        key=lambda path: (path != "saved_model.pb", path == paused_file),
    )
    for relative in files:
        os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
        if relative != paused_file:
            shutil.copy(os.path.join(source, relative), os.path.join(target, relative))
            continue
        with open(os.path.join(source, relative), "rb") as f:
            data = f.read()
        cut = data.rindex(b"\n", 0, len(data) // 2) + 1
        with open(os.path.join(target, relative), "wb") as f:
            f.write(data[:cut])
            f.flush()
            time.sleep(pause)
            f.write(data[cut:])


def _get(server, path: str) -> str:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    connection.request("GET", path)
    return connection.getresponse().read().decode()


def _lookup(server) -> list[int] | None:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    body = json.dumps({"signature_name": "lookup", "instances": ASKED})
    connection.request("POST", "/v1/models/toy/versions/2:predict", body=body)
    reply = connection.getresponse()
    answer = json.loads(reply.read())
    return answer["predictions"] if reply.status == 200 else None


def _version_2(server) -> tuple[str, str, str]:
    client = GrpcClient(server.grpc)
    try:
        for status in client.status("toy").model_version_status:
            if status.version == 2:
                code = status.status.error_code
                return status.State.Name(status.state), str(code), status.status.error_message
        return "", "", ""
    finally:
        client.close()


def _gauge(page: str) -> str | None:
    lines = [line for line in page.splitlines() if line.startswith(CHANGED_GAUGE)]
    return lines[0].split()[-1] if lines else None


def test_changed_files_of_a_served_version_are_reported_then_reloaded(tmp_path):
    base = tmp_path / "toy"
    save_toy_model(str(base / "1"), offset=1.0, vocabulary=VOCABULARY)
    staged = save_toy_model(str(tmp_path / "staging" / "2"), offset=2.0, vocabulary=VOCABULARY)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    server = builtin_server(f"--model_base_path={base}", "--model_name=toy", f"--monitoring_config_file={monitoring}",
                            log_path=str(tmp_path / "server.log"), ready_models=("toy",)).start()  # fmt: skip
    seen: list[tuple[float, tuple[str, str, str], list[int] | None, str | None]] = []
    copying = threading.Event()

    def observe() -> None:
        while copying.is_set():
            page = _get(server, "/monitoring/prometheus/metrics")
            seen.append((time.monotonic(), _version_2(server), _lookup(server), _gauge(page)))
            time.sleep(0.1)

    observer = threading.Thread(target=observe)
    copying.set()
    observer.start()
    try:
        # The pause spans three 1 s looks: the half-written vocabulary looks complete, as the SRE's copy did.
        copy_pausing_in(staged, str(base / "2"), os.path.join("assets", "vocabulary.txt"), pause=3.5)
        copied = time.monotonic()
        deadline = copied + 30
        while not seen or seen[-1][1][:2] != ("AVAILABLE", "0") or seen[-1][2] != FULL:
            assert time.monotonic() < deadline, f"not reloaded: {seen[-3:]}\n{server.output()}"
            time.sleep(0.2)
    finally:
        copying.clear()
        observer.join()
        page = _get(server, "/monitoring/prometheus/metrics")
        assert server.stop() == 0, server.output()
    half_served = [t for t, _, answer, _ in seen if answer == HALF]
    assert half_served, "the paused copy should have been loaded half-written"
    assert max(half_served) < copied + 4  # two 1 s looks after the copy ended, and a reload
    reported = [(t, gauge) for t, status, _, gauge in seen if status[1] == "9" and "changed after" in status[2]]
    assert reported, f"the changed files were never reported: {seen}"  # 9: FAILED_PRECONDITION
    assert all(status[0] == "AVAILABLE" for t, status, _, _ in seen if t > min(half_served))  # always served
    assert any(gauge == "1" for _, gauge in reported)
    assert all(answer == FULL for t, _, answer, _ in seen if t > max(t for t, _ in reported))
    assert _gauge(page) == "0"
    path = base / "2"
    assert f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{path}",status="success"}} 2' in page
    assert "model toy version 2 reloaded from its changed files" in server.output()
