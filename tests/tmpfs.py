"""Small tmpfs mounts for tests of full and read-only disks; such a test is skipped where mounting is not allowed."""

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def mounted(path: str, size_bytes: int) -> Iterator[str]:
    """Mounts a tmpfs of `size_bytes` at `path` (created if needed) for the block; skips the test without root."""
    os.makedirs(path, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", path], capture_output=True, text=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path}: {mount.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=True)


def make_read_only(path: str) -> None:
    """Remounts the tmpfs at `path` read-only: writes fail with EROFS, for root too."""
    subprocess.run(["mount", "-o", "remount,ro", path], check=True)
