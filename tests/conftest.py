"""Shared test helpers: the repository's paths and its shipped configuration."""

import hashlib
import os
import subprocess
import sys

import pytest

from pipeline import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_PATH = os.path.join(REPO, "configs", "chicago_taxi.yaml")
TAXI_CSV = os.path.join(REPO, "data", "chicago_taxi", "span-1", "data.csv")


@pytest.fixture(scope="session")
def taxi_config() -> config_lib.PipelineConfig:
    return config_lib.load(CONFIG_PATH)


@pytest.fixture(scope="session")
def taxi_csv() -> str:
    """The shipped Chicago taxi sample (15,002 rows)."""
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
        [sys.executable, "-m", "kfx.cli", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=1200
    )
