"""A serving folder of toy SavedModels (versions 1-3, stable on 1) and a rollout context on it, with nothing listening
at its addresses unless a test starts something there."""

import dataclasses
import http.server
import json
import os
import threading

import pytest
from server_process import free_port
from toy_model import save_toy_model

from pipeline.config_rollout import RolloutConfig, WebhookConfig
from rollout import actions, steps
from serving import labels

MODEL = "toy"


@pytest.fixture(scope="session")
def toy_versions(tmp_path_factory) -> str:
    """Three toy versions, saved once; each test copies them."""
    base = tmp_path_factory.mktemp("toy_versions")
    for version in (1, 2, 3):
        save_toy_model(str(base / str(version)), offset=float(version), warmup=False)
    return str(base)


@pytest.fixture
def context(tmp_path, toy_versions, monkeypatch) -> steps.Context:
    import shutil

    serving_dir = tmp_path / "workspace" / "serving_model"
    shutil.copytree(toy_versions, serving_dir / MODEL)
    monkeypatch.delenv("KFX_ROLLOUT_WEBHOOK_URL", raising=False)
    unused = f"127.0.0.1:{free_port()}"
    target = actions.Target(str(serving_dir), MODEL, unused)
    plan = labels.promotion(target.config_path, MODEL, target.base_path, "1", "stable")
    labels.apply_plan(plan, None)
    rules = RolloutConfig(webhook=WebhookConfig(timeout_seconds=2.0, retries=1))
    workspace = tmp_path / "workspace"
    return steps.Context(
        target=target, rules=rules, metadata=str(workspace / "metadata.sqlite"),
        monitoring_dir=str(workspace / "monitoring"), logs=str(workspace / "request_logs" / MODEL),
        outcomes=str(workspace / "feedback" / "outcomes.sqlite"), rest_address=unused,
    )  # fmt: skip


def with_rules(context: steps.Context, **changes) -> steps.Context:
    return dataclasses.replace(context, rules=dataclasses.replace(context.rules, **changes))


class Receiver:
    """A webhook receiver on loopback: records each POST's JSON body; the first `failures` answer 500."""

    def __init__(self, failures: int = 0):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.failures = failures
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.paths.append(self.path)
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def history(context: steps.Context) -> dict:
    return read_json(context.target.config_path + ".history.json")[MODEL]


def version_labels(context: steps.Context) -> dict:
    return actions.labels_of(context.target)


def routing(context: steps.Context) -> dict:
    path = context.target.routing_path
    return read_json(path)["models"][MODEL] if os.path.exists(path) else None
