"""The signature names are importable without TensorFlow, so naming a signature does not load the exporter."""

import subprocess
import sys

from conftest import REPO

# Imports the modules named on the command line in groups ("+" separates them) and prints, after each group, a line
# with which of TensorFlow and the exporter are loaded by then.
_PROBE = """
import importlib, sys
for group in " ".join(sys.argv[1:]).split("+"):
    for name in group.split():
        importlib.import_module(name)
    print(" ".join(sorted(m for m in sys.modules if m in ("tensorflow", "models.exporter"))))
"""


def _loaded_after(*modules: str) -> list[set[str]]:
    """What each group of `modules` (separated by "+") left loaded, in one process."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return [set(line.split()) for line in result.stdout.splitlines()]


def test_signature_names_load_no_tensorflow():
    assert _loaded_after("models.signatures") == [set()]


def test_the_evaluation_config_and_the_skew_monitor_do_not_load_the_exporter():
    monitoring, training = _loaded_after("pipeline.evaluation", "monitoring.skew", "+", "models.trainer")
    assert "models.exporter" not in monitoring
    assert "models.exporter" in training  # the probe sees the exporter once it is loaded
