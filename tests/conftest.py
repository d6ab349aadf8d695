"""Shared test helpers: the repository's paths, its shipped configuration, and the real pipeline runs e2e tests share.

The real pipeline runs only in fixtures registered with `runs_the_pipeline`, and only tests marked `e2e` may request
them (checked at collection, before anything runs), so `pytest -m "not e2e"` never runs it. The first stage of a
model's life, `e2e_span_1` (a cold run on a 3,000-row slice of span 1, then a rerun with nothing changed), is built
once per session and never changed afterwards: later stages copy its workspace (`copy_workspace`).

Time limits: pyproject.toml gives every test 300 s, fixtures included. An e2e test's body gets E2E_TEST_TIMEOUT
instead and its fixtures no pytest-timeout limit, since the first test to request a shared pipeline fixture would
otherwise pay for runs that all later tests reuse; each `kfx run` is bounded by RUN_TIMEOUT itself.
"""

import contextlib
import csv
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from pipeline import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_PATH = os.path.join(REPO, "configs", "chicago_taxi.yaml")
TAXI_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-1", "data.csv")
SPAN_2_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-2", "data.csv")
E2E_ROWS = 3000
RUN_TIMEOUT = 1200  # seconds for one `kfx run` subprocess (about a minute on two free cores)
E2E_TEST_TIMEOUT = RUN_TIMEOUT + 300  # an e2e test's body: a run of its own, and checks that outlive it a little
PIPELINE_FIXTURES: set[str] = set()


def runs_the_pipeline(fixture_function: Callable) -> Callable:
    """Registers a fixture (apply below @pytest.fixture) that runs the real pipeline: only e2e tests may request it."""
    PIPELINE_FIXTURES.add(fixture_function.__name__)
    return fixture_function


def pytest_collection_modifyitems(config, items):
    unmarked = [
        f"{item.nodeid} (through {', '.join(sorted(PIPELINE_FIXTURES & set(item.fixturenames)))})"
        for item in items
        if PIPELINE_FIXTURES & set(item.fixturenames) and not item.get_closest_marker("e2e")
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that run the real pipeline must be marked @pytest.mark.e2e, so that `pytest -m 'not e2e'` "
            "never runs it:\n  " + "\n  ".join(unmarked)
        )
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TEST_TIMEOUT, func_only=True))


@pytest.fixture(scope="session")
def taxi_config() -> config_lib.PipelineConfig:
    return config_lib.load(CONFIG_PATH)


@pytest.fixture(scope="session")
def taxi_csv() -> str:
    """Span 1 of the shipped Chicago taxi sample (the 4,388 trips of 2013)."""
    return TAXI_CSV


@pytest.fixture(scope="session")
def config_path() -> str:
    """The shipped configuration file."""
    return CONFIG_PATH


@pytest.fixture
def raw(config_path: str) -> dict:
    """The shipped configuration file as parsed YAML, a fresh copy for each test to edit."""
    with open(config_path) as f:
        return yaml.safe_load(f)


def config_error(raw: dict, path: str = "cfg.yaml") -> str:
    """The ConfigError parsing `raw` raises, checked to be one line that starts with the file's name."""
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.parse(raw, path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def tree_digest(root: str) -> dict[str, str]:
    """Relative path -> sha256 of every file under `root`: equal digests mean byte-for-byte equal trees."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def run_kfx(*args: str, cwd: str = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs the real `kfx` CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "kfx.cli", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT
    )


def serving_dir(project: dict) -> str:
    """Where `kfx run` in the project's workspace pushes: <workspace>/serving_model/<model name>."""
    return os.path.join(project["workspace"], "serving_model", "chicago_taxi")


def copy_workspace(project: dict, workspace: str) -> dict:
    """`project` with its workspace copied to `workspace`.

    ML Metadata records absolute artifact URIs, so the copy's records still name the original's artifact files. A run
    in the copy reads them (cached outputs, inputs of new executions) and writes only under the copy: its pipeline
    root, serving folder, logs and lock, and the folders of its own killed executions (runners/local/recovery.py
    works under the pipeline root it is given). The original is never changed, and must stay in place for the copy
    to read it.
    """
    shutil.copytree(project["workspace"], workspace, symlinks=True)
    return {**project, "workspace": workspace}


def small_project(root) -> dict:
    """A config for a 3,000-row span-1 (thresholds suited to small data) under `root`, its data folder and an empty
    workspace."""
    span = root / "data" / "span-1"
    span.mkdir(parents=True)
    with open(TAXI_CSV, newline="") as source, open(span / "data.csv", "w", newline="") as target:
        csv.writer(target).writerows(itertools.islice(csv.reader(source), E2E_ROWS + 1))
    with open(CONFIG_PATH) as f:
        raw = yaml.safe_load(f)
    raw["data"]["path"] = str(root / "data")
    raw["data"]["schema"] = os.path.join(os.path.dirname(CONFIG_PATH), raw["data"]["schema"])
    raw["training"]["train_steps"] = 300
    raw["evaluation"]["thresholds"] = {"auc": 0.7}
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return {
        "root": root,
        "data": root / "data",
        "config": str(config),
        "workspace": str(root / "ws"),
        "pipeline": raw["pipeline_name"],
    }


@pytest.fixture(scope="session")
def e2e_project(tmp_path_factory) -> dict:
    """A config for a 3,000-row span-1 (thresholds suited to small data), its data folder and an empty workspace."""
    return small_project(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="session")
def metadata_servers() -> Iterator[dict[str, str]]:
    """{"mysql": URL, "postgresql": URL} of a MariaDB and a PostgreSQL server on loopback (no database; add
    /NAME), or a reason each cannot start: the ones `.ci/run` started (tests/metadata_servers.py), else started here
    for the session and stopped after. KFX_METADATA_PASSWORD is their password for the session."""
    import metadata_servers as servers

    found, started = {}, None
    for kind, variable in servers.ENV.items():
        if os.environ.get(variable):
            found[kind] = os.environ[variable]
            continue
        if started is None:  # PostgreSQL runs as `postgres`: its folder must be reachable by that user
            started = tempfile.mkdtemp(prefix="kfx-metadata-servers-")
            os.chmod(started, 0o755)
        folder = os.path.join(started, "mariadb" if kind == "mysql" else kind)
        try:
            found[kind] = servers.start(kind, folder)
        except servers.ServerUnavailable as error:
            found[kind] = f"skip: {kind} server cannot start here: {' '.join(str(error).split())}"
    password = os.environ.get(servers.PASSWORD_ENV) or servers.PASSWORD
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KFX_METADATA_PASSWORD", password)
        patch.delenv("KFX_METADATA_PASSWORD_FILE", raising=False)
        yield found
    if started:
        servers.stop(started)
        shutil.rmtree(started, ignore_errors=True)


def database_url(metadata_servers: dict[str, str], kind: str) -> str:
    """A new, empty database on the `kind` server (mysql or postgresql), or the test is skipped saying why."""
    server = metadata_servers[kind]
    if server.startswith("skip: "):
        pytest.skip(server.removeprefix("skip: "))
    return f"{server}/kfx_{uuid.uuid4().hex[:12]}"


def run_pipeline(project: dict, *args: str) -> subprocess.CompletedProcess:
    """`kfx run` with the project's config and workspace."""
    return run_kfx("run", "--config", project["config"], "--workspace", project["workspace"], *args)


@contextlib.contextmanager
def tensorboard(*args: str) -> Iterator[Callable[..., Any]]:
    """`kfx board ARGS` on a free port while inside; yields `read(path, ready)`: the JSON TensorBoard serves at
    `path` once `ready(value)` holds, or after 60 s (it loads event files in the background once it listens)."""
    board = subprocess.Popen(
        [sys.executable, "-m", "kfx.cli", "board", *args, "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = board.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + board.stderr.read() if board.poll() is not None else line

        def read(path: str, ready: Callable[[Any], bool] = lambda _: True) -> Any:
            deadline = time.monotonic() + 60
            while True:
                with urllib.request.urlopen(url.group(0) + path, timeout=10) as response:
                    value = json.load(response)
                if ready(value) or time.monotonic() > deadline:
                    return value
                time.sleep(1)

        yield read
    finally:
        board.terminate()
        board.wait(timeout=30)


def printed_run_id(result: subprocess.CompletedProcess) -> str:
    """The run id a `kfx run` printed (its `Run <id>` line)."""
    return re.search(r"^Run (\S+)$", result.stdout, re.MULTILINE).group(1)


def run_summary(result: subprocess.CompletedProcess) -> dict:
    """The JSON summary a `kfx run` wrote next to the log its header names."""
    log = re.search(r"log:\s+(\S+)\.log$", result.stdout, re.MULTILINE).group(1)
    with open(log + ".summary.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
@runs_the_pipeline
def e2e_span_1(e2e_project) -> dict:
    """`e2e_project` after its cold `kfx run` and a second run with nothing changed, both done here so that every
    test sees the workspace in the same state: {"first", "rerun": CompletedProcess, "served_before_rerun": digest}.

    The cold run pushes a model trained for 100 steps (one evaluation interval), which the config's 300 steps on a
    larger window can beat (tests/e2e). The rerun cannot be made on a copy: the workspace's path is a property of
    ServingBaseline and Pusher, so a copy would run them again.
    """
    first = run_pipeline(e2e_project, "--train-steps", "100")
    assert first.returncode == 0, first.stdout + first.stderr
    served = tree_digest(serving_dir(e2e_project))
    rerun = run_pipeline(e2e_project, "--train-steps", "100", "--span", "1")  # as the first run: span 1 is the newest
    return {"first": first, "rerun": rerun, "served_before_rerun": served}


@pytest.fixture(scope="session")
def e2e_first_run(e2e_span_1) -> subprocess.CompletedProcess:
    """The cold `kfx run` of `e2e_project` (the workspace also holds the cached rerun of `e2e_span_1`)."""
    return e2e_span_1["first"]


@pytest.fixture(scope="session")
def pushed_taxi_model(e2e_span_1, e2e_project, tmp_path_factory) -> dict:
    """A copy of the model the pipeline pushed, in TF Serving's layout: {"base": <base path>, "version": int}."""
    (version,) = os.listdir(serving_dir(e2e_project))
    base = tmp_path_factory.mktemp("served") / "chicago_taxi"
    shutil.copytree(os.path.join(serving_dir(e2e_project), version), base / version)
    return {"base": str(base), "version": int(version)}


def write_span(project, number, source, rows, change=None):
    """Writes span `number` from the first `rows` rows of `source`, each passed through `change(index, row)`."""
    span = project["data"] / f"span-{number}"
    span.mkdir(exist_ok=True)
    with open(source, newline="") as f_in, open(span / "data.csv", "w", newline="") as f_out:
        reader = csv.DictReader(f_in)
        writer = csv.DictWriter(f_out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for index, row in enumerate(reader):
            if index == rows:
                break
            writer.writerow(change(index, row) if change else row)


def next_stage(parent: dict, root, new_data: bool) -> dict:
    """The project of the stage after `parent`, under `root`: its workspace copied, with a copy of its data folder and
    a config that reads it (to add a span), or with the parent's own data and config (whose cached work it reuses)."""
    project = {**copy_workspace(parent, str(root / "ws")), "root": root}
    if not new_data:
        return project
    shutil.copytree(parent["data"], root / "data")
    with open(parent["config"]) as f:
        raw = yaml.safe_load(f)
    raw["data"]["path"] = str(root / "data")
    (root / "config.yaml").write_text(yaml.safe_dump(raw))
    return {**project, "data": root / "data", "config": str(root / "config.yaml")}


@pytest.fixture(scope="session")
@runs_the_pipeline
def span_2_refused(e2e_project, e2e_span_1, tmp_path_factory) -> dict:
    """Span 1's workspace and data copied, span 2 added, and a weak candidate (5 steps) run on them ("run")."""
    project = next_stage(e2e_project, tmp_path_factory.mktemp("span-2-refused"), new_data=True)
    write_span(project, 2, SPAN_2_CSV, 3000)
    return {**project, "run": run_pipeline(project, "--train-steps", "5")}


@pytest.fixture(scope="session")
@runs_the_pipeline
def span_2_pushed(span_2_refused, tmp_path_factory) -> dict:
    """The weak candidate's workspace copied and the config's 300 steps run on the same data and config ("run")."""
    project = next_stage(span_2_refused, tmp_path_factory.mktemp("span-2-pushed"), new_data=False)
    return {**project, "run": run_pipeline(project)}
