"""TFX, Beam and TensorFlow output sent to a log file, so the console shows only what the user needs."""

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def output_to_log(log_path: str, verbose: bool) -> Iterator[TextIO]:
    """Sends everything written to stdout/stderr (Python and native code) and all logging to `log_path`.

    Yields a stream that still reaches the user's terminal. With `verbose`, output is not redirected.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    root = logging.getLogger()
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(file_handler)
    if verbose:
        try:
            yield sys.stdout
        finally:
            root.removeHandler(file_handler)
            root.setLevel(previous_level)
        return

    sys.stdout.flush()
    sys.stderr.flush()
    saved_stdout, saved_stderr = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    # Handlers writing to the console (absl's, or a basicConfig one) would bypass the file otherwise.
    console_handlers = [h for h in root.handlers if h is not file_handler]
    for handler in console_handlers:
        root.removeHandler(handler)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield console
    finally:
        with contextlib.suppress(OSError):  # the log's disk may be full: restoring the console matters more
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved_stdout, 1)
        os.dup2(saved_stderr, 2)
        for fd in (log_fd, saved_stdout, saved_stderr):
            os.close(fd)
        root.removeHandler(file_handler)
        for handler in console_handlers:
            root.addHandler(handler)
        root.setLevel(previous_level)
        console.close()
