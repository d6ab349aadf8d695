"""The signature names are importable without TensorFlow, so naming a signature does not load the exporter."""

import subprocess
import sys

from conftest import REPO

# Prints the project modules and TensorFlow that the imports named on the command line loaded.
_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(" ".join(sorted(m for m in sys.modules if m in ("tensorflow", "models.exporter"))))
"""


def _loaded_after(*modules: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_signature_names_load_no_tensorflow():
    assert _loaded_after("models.signatures") == set()


def test_the_evaluation_config_and_the_skew_monitor_do_not_load_the_exporter():
    assert "models.exporter" not in _loaded_after("pipeline.evaluation", "monitoring.skew")
    assert "models.exporter" in _loaded_after("models.trainer")  # the probe sees the exporter when it is loaded
