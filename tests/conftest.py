"""Shared test helpers: the repository's paths and its shipped configuration."""

import os

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
