"""Shared test helpers: the repository's paths, its shipped configuration, and one real pipeline run.

The real pipeline runs once per test session (`e2e_first_run`, a 3,000-row slice of span 1): the end-to-end tests
check it in ML Metadata and continue the same workspace with new spans, and the serving tests serve the model that
first run pushed (`pushed_taxi_model`). Fixtures that run the pipeline are registered with `runs_the_pipeline`, and
only tests marked `e2e` may request them (checked at collection, before anything runs), so `pytest -m "not e2e"`
never runs it.

Time limits: pyproject.toml gives every test 300 s, fixtures included. An e2e test's body gets E2E_TEST_TIMEOUT
instead and its fixtures no pytest-timeout limit, since the first test to request a shared pipeline fixture would
otherwise pay for runs that all later tests reuse; each `kfx run` is bounded by RUN_TIMEOUT itself.
"""

import csv
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest
import yaml

from pipeline import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_PATH = os.path.join(REPO, "configs", "chicago_taxi.yaml")
TAXI_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-1", "data.csv")
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


@pytest.fixture(scope="session")
def e2e_project(tmp_path_factory):
    """A config for a 3,000-row span-1 (thresholds suited to small data) and an empty workspace."""
    root = tmp_path_factory.mktemp("e2e")
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
    return {"root": root, "config": str(config), "workspace": str(root / "ws"), "pipeline": raw["pipeline_name"]}


@pytest.fixture(scope="session")
@runs_the_pipeline
def e2e_first_run(e2e_project) -> subprocess.CompletedProcess:
    """The cold `kfx run` of `e2e_project`; it pushes a model trained for 100 steps (one evaluation interval), which
    the config's 300 steps on a larger window can beat (tests/e2e)."""
    result = run_kfx(
        "run", "--config", e2e_project["config"], "--workspace", e2e_project["workspace"], "--train-steps", "100"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def pushed_taxi_model(e2e_first_run, e2e_project, tmp_path_factory) -> dict:
    """A copy of the model the pipeline pushed, in TF Serving's layout: {"base": <base path>, "version": int}."""
    pushed = os.path.join(e2e_project["workspace"], "serving_model", "chicago_taxi")
    version = min(os.listdir(pushed), key=int)  # the end-to-end tests may have pushed later versions
    base = tmp_path_factory.mktemp("served") / "chicago_taxi"
    shutil.copytree(os.path.join(pushed, version), base / version)
    return {"base": str(base), "version": int(version)}
