"""A rollout against a running built-in server on loopback: each move reloads it, and the labels it serves follow."""

# ruff: noqa: F811 - the fixtures come from rollout_env (a conftest.py here would shadow tests/conftest.py)

import dataclasses
import json
import sys
import time
import urllib.error
import urllib.request

from rollout_env import context, toy_versions  # noqa: F401
from server_process import ServerProcess

from rollout import actions, rules, steps
from serving.client import GrpcClient


def _offset(server: ServerProcess, label: str) -> float | None:
    """The answering version's offset (the toy model's y at x=0), or None when the label is not served."""
    body = json.dumps({"inputs": {"x": [0.0], "name": ["n"]}}).encode()
    request = urllib.request.Request(f"http://{server.rest}/v1/models/toy/labels/{label}:predict", data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["outputs"]["y"][0]
    except urllib.error.HTTPError:
        return None


def _evidence(candidate: int) -> rules.Evidence:
    quality = rules.Quality("auc", rules.Interval(0.91), rules.Interval(0.91), rules.Interval(0.0, -0.006, 0.006),
                            5000, 95000, paired=False)  # fmt: skip
    return rules.Evidence("toy", "canary", candidate, 1, rules.Traffic("canary", candidate, 3000, 0, 8.0),
                          rules.Traffic("stable", 1, 57000, 0, 8.0), quality, None)  # fmt: skip


def test_start_promote_and_rollback_reload_a_running_server(context, tmp_path):
    command = [sys.executable, "-m", "kfx.cli", "serve", "--serving-dir", context.target.serving_dir]
    server = ServerProcess(command, str(tmp_path / "serve.log"), ready_models=("toy",)).start()
    live = dataclasses.replace(context, target=dataclasses.replace(context.target, grpc_address=server.grpc))
    try:
        assert _offset(server, "stable") == 1.0 and _offset(server, "canary") is None
        assert steps.start(live, 2, "canary", None).live
        assert _offset(server, "canary") == 2.0 and _offset(server, "stable") == 1.0

        promoted = steps.step(live, _evidence(2))
        assert promoted.action == "promote" and promoted.live
        assert _offset(server, "stable") == 2.0 and _offset(server, "canary") is None

        assert steps.start(live, 3, "canary", None).live and _offset(server, "canary") == 3.0
        rolled_back = steps.abort(live, "test")
        assert rolled_back.live and _offset(server, "canary") is None and _offset(server, "stable") == 2.0
        client = GrpcClient(server.grpc)
        try:
            deadline = time.monotonic() + 30  # unloading may finish after the reload answered
            while sorted(client.available_versions("toy")) != [1, 2] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert sorted(client.available_versions("toy")) == [1, 2]  # 3 unloaded; 1 kept for `kfx rollback`
        finally:
            client.close()
        assert actions.current(live.target) is None
    finally:
        assert server.stop() == 0, server.output()
