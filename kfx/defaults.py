"""What every `kfx` command shares: the shipped configuration file and the exit codes."""

import os

DEFAULT_CONFIG = os.path.join("configs", "chicago_taxi.yaml")
# 1: the work started and failed (a component, the backend); 2: bad input, nothing ran or was sent.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
