"""Tests of `kfx submit` against a loopback stand-in of the KFP REST API v2beta1.

What this proves: the HTTP requests that `kfx submit` makes through the real kfp 2.5.0 `kfp.Client` — the run and
recurring-run bodies (full pipeline spec, pipeline_root, typed runtime parameters, display name, experiment id, cron
schedule, max_concurrency), the Authorization/Cookie headers of each auth mode — that secrets never reach stdout,
stderr or log records, and that each user-caused failure is one `error:` line with the right exit code.

What this does not prove: that a real Kubeflow Pipelines backend accepts these requests, compiles the spec to Argo and
runs it, or that a real Istio/oauth2-proxy gateway accepts the token or cookie. The stand-in only answers with the
fields kfp reads; it does not validate the spec the way the KFP API server does.
"""

import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl

from kfx import cli
from runners.kubeflow import connection, submit

API = "/apis/v2beta1"
TOKEN = "tok-5ecret-b3arer-value"
COOKIE_VALUE = "c00kie-5ession-value"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class FakeKfp:
    """Answers the v2beta1 endpoints kfp 2.5.0 calls and records every request."""

    experiments: dict[str, str] = field(default_factory=lambda: {"tfx-exp": "exp-1", "Default": "exp-0"})
    run_states: list[str] = field(default_factory=lambda: ["PENDING"])
    reject_with: int | None = None
    multi_user: bool = False
    runs_error: tuple[int, str] | None = None  # answer POST /runs with this status and message
    echo_credentials: bool = False  # put the received credentials in every answer, as a careless proxy might
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.method == method and request.path == API + path]

    def answer(self, request: Recorded) -> tuple[int, Any]:
        status, payload = self.route(request)
        if self.echo_credentials:
            payload["echo"] = request.headers.get("authorization", "") + request.headers.get("cookie", "")
        return status, payload

    def route(self, request: Recorded) -> tuple[int, Any]:
        if self.reject_with:
            return self.reject_with, {"error": "bad credentials", "code": 16, "message": "denied"}
        route = (request.method, request.path)
        if route == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": self.multi_user}
        if route == ("GET", f"{API}/experiments"):
            wanted = json.loads(request.query.get("filter", ["{}"])[0]).get("predicates", [{}])[0].get("stringValue")
            found = [
                {"experiment_id": i, "display_name": n} for n, i in self.experiments.items() if wanted in (n, None)
            ]
            return 200, {"experiments": found, "total_size": len(found)} if found else {}
        if route == ("POST", f"{API}/experiments"):
            self.experiments[request.body["display_name"]] = "exp-new"
            return 200, {"experiment_id": "exp-new", "display_name": request.body["display_name"]}
        if route == ("POST", f"{API}/runs") and self.runs_error:
            return self.runs_error[0], {"error": self.runs_error[1], "code": 3, "message": self.runs_error[1]}
        if route == ("POST", f"{API}/runs"):
            return 200, {**request.body, "run_id": "run-123", "state": "PENDING"}
        if route == ("POST", f"{API}/recurringruns"):
            return 200, {**request.body, "recurring_run_id": "rr-7"}
        if route == ("GET", f"{API}/runs/run-123"):
            state = self.run_states.pop(0) if len(self.run_states) > 1 else self.run_states[0]
            return 200, {"run_id": "run-123", "state": state}
        return 404, {"error": "not found", "code": 5}


def _handler(fake: FakeKfp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Recorded(
                self.command,
                parsed.path,
                urllib.parse.parse_qs(parsed.query),
                {name.lower(): value for name, value in self.headers.items()},  # case-insensitive
                json.loads(raw) if raw else None,
            )
            fake.requests.append(request)
            status, payload = fake.answer(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


@pytest.fixture
def fake_kfp() -> Iterator[FakeKfp]:
    fake = FakeKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@dsl.container_component
def _echo(message: str, steps: int):
    return dsl.ContainerSpec(image="busybox:1.36", command=["echo"], args=[message, steps])


@dsl.pipeline(name="tiny-pipeline")
def _tiny(message: str = "hello", steps: int = 10):
    _echo(message=message, steps=steps)


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real spec compiled by kfp 2.5.0 (schemaVersion 2.1.0, one container task, two runtime parameters)."""
    path = tmp_path_factory.mktemp("package") / "pipeline.yaml"
    compiler.Compiler().compile(_tiny, str(path))
    assert yaml.safe_load(path.read_text())["schemaVersion"] == "2.1.0"
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_TOKEN", "KF_PIPELINES_COOKIE", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", raising=False)


def kfx_submit(*argv: str) -> int:
    """Runs `kfx submit …` in-process through the real command line; returns its exit code."""
    return cli.main(["submit", *argv])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# --- requests kfx sends ------------------------------------------------------------------------------------------


def test_run_request_carries_spec_root_parameters_name_and_experiment(fake_kfp, package, capsys):
    code = kfx_submit(
        *("--host", fake_kfp.url, "--package", str(package), "--experiment", "tfx-exp", "--run-name", "nightly-1"),
        *("--pipeline-root", "gs://bucket/tfx-root", "--param", "steps=20", "--param", "message=123"),
    )

    assert code == 0
    [run] = fake_kfp.calls("POST", "/runs")
    assert run.body["pipeline_spec"] == yaml.safe_load(package.read_text())
    assert run.body["runtime_config"] == {
        "pipeline_root": "gs://bucket/tfx-root",
        "parameters": {"steps": 20, "message": "123"},  # JSON for NUMBER_INTEGER, raw text for a STRING parameter
    }
    assert run.body["display_name"] == "nightly-1"
    assert run.body["experiment_id"] == "exp-1"
    assert fake_kfp.calls("POST", "/experiments") == []  # an existing experiment is reused, never created
    assert not any("authorization" in request.headers for request in fake_kfp.requests)
    out = capsys.readouterr().out
    assert "run run-123" in out and "nightly-1" in out and "tfx-exp (exp-1)" in out
    assert f"{fake_kfp.url}/#/runs/details/run-123" in out


def test_disable_caching_turns_off_every_task_cache(fake_kfp, package):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--disable-caching") == 0

    [run] = fake_kfp.calls("POST", "/runs")
    tasks = run.body["pipeline_spec"]["root"]["dag"]["tasks"]
    assert {name: task.get("cachingOptions", {}) for name, task in tasks.items()} == {"echo": {}}  # enableCache false


def test_recurring_run_sends_cron_schedule_and_max_concurrency(fake_kfp, package, capsys):
    code = kfx_submit(
        *("--host", fake_kfp.url, "--package", str(package), "--experiment", "tfx-exp"),
        *("--recurring", "0 0 3 * * *", "--max-concurrency", "2", "--pipeline-root", "s3://bucket/root"),
    )

    assert code == 0
    [job] = fake_kfp.calls("POST", "/recurringruns")
    assert job.body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert int(job.body["max_concurrency"]) == 2
    assert job.body["mode"] == "ENABLE"
    assert job.body["experiment_id"] == "exp-1"
    assert job.body["pipeline_spec"]["pipelineInfo"] == {"name": "tiny-pipeline"}
    assert fake_kfp.calls("POST", "/runs") == []
    assert "recurring run rr-7" in capsys.readouterr().out


def test_create_experiment_creates_it_then_runs_in_it(fake_kfp, package):
    code = kfx_submit("--host", fake_kfp.url, "--package", str(package), "--experiment", "new", "--create-experiment")

    assert code == 0
    [created] = fake_kfp.calls("POST", "/experiments")
    assert created.body["display_name"] == "new"
    assert fake_kfp.calls("POST", "/runs")[0].body["experiment_id"] == "exp-new"


def test_multi_user_backend_needs_a_namespace_and_sends_it(fake_kfp, package, capsys):
    fake_kfp.multi_user = True

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package)) == 2
    assert "--namespace" in one_error_line(capsys)
    assert fake_kfp.calls("POST", "/runs") == []

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--namespace", "team-a") == 0
    assert fake_kfp.calls("GET", "/experiments")[0].query["namespace"] == ["team-a"]


def test_wait_prints_states_until_the_run_succeeds(fake_kfp, package, capsys):
    fake_kfp.run_states = ["RUNNING", "RUNNING", "SUCCEEDED"]

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--wait", "--poll-interval", "0.01") == 0

    out = capsys.readouterr().out
    assert "state: RUNNING" in out and "state: SUCCEEDED" in out
    assert len(fake_kfp.calls("GET", "/runs/run-123")) == 3


def test_wait_on_a_failed_run_exits_1(fake_kfp, package, capsys):
    fake_kfp.run_states = ["FAILED"]

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--wait", "--poll-interval", "0.01") == 1
    assert "ended FAILED" in one_error_line(capsys)


# --- auth ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["file", "env"])
def test_token_is_sent_as_bearer_and_never_printed_or_logged(fake_kfp, package, tmp_path, monkeypatch, capsys, caplog,
                                                            source):  # fmt: skip
    options = ["--auth", "token"]
    if source == "file":
        (tmp_path / "token").write_text(TOKEN + "\n")
        options += ["--token-file", str(tmp_path / "token")]
    else:
        monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
    fake_kfp.echo_credentials = True  # so kfp_server_api's "response body" debug records contain the token
    caplog.set_level(logging.DEBUG)

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), *options, "--verbose") == 0

    assert len(fake_kfp.requests) >= 4  # healthz (kfx), healthz (kfp), experiments, runs
    assert {request.headers.get("authorization") for request in fake_kfp.requests} == {f"Bearer {TOKEN}"}
    captured = capsys.readouterr()
    assert "response body" in caplog.text and "Bearer ***" in caplog.text  # logged, and redacted
    assert "Bearer ***" in captured.err  # --verbose shows the same records on stderr
    for output in (captured.out, captured.err, caplog.text):
        assert TOKEN not in output


def test_service_account_token_file_is_sent_as_bearer(fake_kfp, package, tmp_path, monkeypatch):
    (tmp_path / "sa-token").write_text(TOKEN)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "sa-token"))

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--auth", "service-account") == 0
    assert {request.headers.get("authorization") for request in fake_kfp.requests} == {f"Bearer {TOKEN}"}


def test_cookie_is_sent_on_every_request_and_never_printed(fake_kfp, package, monkeypatch, capsys):
    monkeypatch.setenv("KF_PIPELINES_COOKIE", f"oauth2_proxy_kubeflow={COOKIE_VALUE}")
    fake_kfp.echo_credentials = True

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--auth", "cookie", "--verbose") == 0

    assert {request.headers.get("cookie") for request in fake_kfp.requests} == {f"oauth2_proxy_kubeflow={COOKIE_VALUE}"}
    captured = capsys.readouterr()
    assert COOKIE_VALUE not in captured.out + captured.err


def test_secrets_cannot_be_given_on_the_command_line():
    for option in ("--token", "--cookie"):  # not even as an abbreviation of --token-file/--cookie-file
        with pytest.raises(SystemExit):
            kfx_submit(option, TOKEN)


# --- errors: one line each, nothing submitted ---------------------------------------------------------------------


def test_unreachable_host_is_one_line(package, capsys):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert kfx_submit("--host", f"http://127.0.0.1:{port}", "--package", str(package)) == 1
    line = one_error_line(capsys)
    assert "cannot reach the KFP API" in line and "Connection refused" in line


def test_rejected_token_is_one_line_without_the_token(fake_kfp, package, monkeypatch, capsys, caplog):
    fake_kfp.reject_with = 401
    fake_kfp.echo_credentials = True
    monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--auth", "token") == 1

    line = one_error_line(capsys)
    assert "HTTP 401" in line and "--auth token" in line
    assert TOKEN not in line and TOKEN not in caplog.text
    assert fake_kfp.calls("POST", "/runs") == []


def test_forbidden_without_auth_suggests_an_auth_mode(fake_kfp, package, capsys):
    fake_kfp.reject_with = 403

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package)) == 1
    assert "HTTP 403" in (line := one_error_line(capsys)) and "--auth token" in line


@pytest.mark.parametrize(
    ("status", "expected"), [(400, "refused the run (HTTP 400): invalid pipeline spec"), (403, "rejected the run")]
)
def test_backend_refusing_the_run_is_one_line(fake_kfp, package, monkeypatch, capsys, status, expected):
    fake_kfp.runs_error = (status, f"invalid pipeline spec from {TOKEN}")
    monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)

    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--auth", "token") == 1
    line = one_error_line(capsys)
    assert expected in line and TOKEN not in line


def test_unknown_experiment_says_what_to_do(fake_kfp, package, capsys):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--experiment", "nope") == 2

    line = one_error_line(capsys)
    assert "'nope' does not exist" in line and "--create-experiment" in line and "tfx-exp" in line
    assert fake_kfp.calls("POST", "/runs") == [] and fake_kfp.calls("POST", "/experiments") == []


def test_schema_2_0_0_package_is_refused_before_any_request(fake_kfp, package, tmp_path, capsys):
    spec = yaml.safe_load(package.read_text())
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(yaml.safe_dump({**spec, "schemaVersion": "2.0.0"}))

    assert kfx_submit("--host", fake_kfp.url, "--package", str(legacy)) == 2
    line = one_error_line(capsys)
    assert "schemaVersion 2.0.0" in line and "2.1.0" in line
    assert fake_kfp.requests == []


@pytest.mark.parametrize(
    ("make_package", "expected"),
    [
        (lambda d: d / "missing.yaml", "cannot read package"),
        (lambda d: (d / "p.json").write_text("{}") and d / "p.json", "not a .yaml/.yml"),
        (lambda d: (d / "p.yaml").write_text("a: [1,") and d / "p.yaml", "not valid YAML"),
        (lambda d: (d / "p.yaml").write_text("kind: Deployment\n") and d / "p.yaml", "not a KFP pipeline spec"),
    ],
)
def test_bad_package_is_one_line(fake_kfp, tmp_path, capsys, make_package, expected):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(make_package(tmp_path))) == 2
    assert expected in one_error_line(capsys)
    assert fake_kfp.requests == []


@pytest.mark.parametrize(
    ("param", "expected"),
    [("steps", "expected KEY=VALUE"), ("=5", "expected KEY=VALUE"), ("epochs=3", "accepts: message, steps")],
)
def test_bad_param_is_one_line(fake_kfp, package, capsys, param, expected):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--param", param) == 2
    assert expected in one_error_line(capsys)
    assert fake_kfp.requests == []


def test_five_field_cron_is_refused_with_a_hint(fake_kfp, package, capsys):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--recurring", "0 3 * * *") == 2
    assert "6 cron fields" in (line := one_error_line(capsys)) and "'0 0 3 * * *'" in line
    assert fake_kfp.requests == []


def test_token_mode_without_a_token_is_one_line(fake_kfp, package, capsys):
    assert kfx_submit("--host", fake_kfp.url, "--package", str(package), "--auth", "token") == 2
    assert "KF_PIPELINES_TOKEN" in one_error_line(capsys)


# --- pure helpers -------------------------------------------------------------------------------------------------


def test_parse_params_uses_json_when_valid_else_text():
    assert submit.parse_params(["n=3", "f=0.5", "b=true", "l=[1,2]", "s=hello", "e=", "u=a=b"]) == {
        "n": 3,
        "f": 0.5,
        "b": True,
        "l": [1, 2],
        "s": "hello",
        "e": "",
        "u": "a=b",
    }


def test_validate_cron_counts_fields():
    assert submit.validate_cron(" 0  0 3 * * * ") == "0 0 3 * * *"
    with pytest.raises(connection.SubmitError, match="got 7"):
        submit.validate_cron("0 0 3 * * * 2030")


def test_select_auth_reads_env_and_redact_hides_secrets():
    auth = connection.select_auth("cookie", None, None, {"KF_PIPELINES_COOKIE": f"a={COOKIE_VALUE}; b=other-value"})
    assert auth.client_kwargs == {"cookies": f"a={COOKIE_VALUE}; b=other-value"}
    assert connection.redact(f"sent {COOKIE_VALUE} and other-value", auth.secrets) == "sent *** and ***"
    assert connection.select_auth("none", None, None, {"KF_PIPELINES_TOKEN": TOKEN}).client_kwargs == {}
