"""Disk failures during a run told in one line (runners/local/storage.py), on real small tmpfs disks."""

import errno
import os

import pytest
import tmpfs
from ml_metadata import errors as mlmd_errors

from runners.local import storage

# What ML Metadata raised in CI when the disk filled while it committed: SQLite had rolled back the transaction by
# itself (SQLITE_FULL), so only the failed COMMIT is reported.
ROLLED_BACK = mlmd_errors.InternalError(
    "Error when executing query: cannot commit - no transaction is active query: COMMIT;"
)


def _fill(disk: str) -> None:
    with open(os.path.join(disk, "filler"), "wb", buffering=0) as f:
        with pytest.raises(OSError) as full:
            while True:
                f.write(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC


def test_an_oserror_of_a_full_disk_names_the_file_and_the_space_left(tmp_path):
    with tmpfs.mounted(str(tmp_path / "disk"), 1024 * 1024) as disk:
        _fill(disk)
        error = RuntimeError("the component failed")
        error.__cause__ = OSError(errno.ENOSPC, "No space left on device", os.path.join(disk, "data.tfrecord"))
        assert storage.explain(error, [disk]) == (
            f"cannot write {disk}/data.tfrecord: the disk is full (0.0 MiB left on the disk of {disk}); free some "
            "space or use a --workspace on a larger disk"
        )


def test_a_commit_sqlite_rolled_back_on_a_full_disk_is_a_full_disk(tmp_path):
    with tmpfs.mounted(str(tmp_path / "disk"), 1024 * 1024) as disk:
        _fill(disk)
        assert storage.explain(ROLLED_BACK, [disk]).startswith(f"cannot write {disk}: the disk is full (0.0 MiB left")


def test_a_rolled_back_commit_with_room_on_the_disk_is_not_blamed_on_the_disk(tmp_path):
    with tmpfs.mounted(str(tmp_path / "disk"), 256 * 1024 * 1024) as disk:
        assert storage.explain(ROLLED_BACK, [disk]) is None


def test_sqlites_own_words_for_a_full_or_read_only_disk_are_recognized(tmp_path):
    folder = str(tmp_path)
    full = mlmd_errors.InternalError("Error when executing query: database or disk is full query: INSERT INTO ...")
    assert "the disk is full" in storage.explain(full, [folder])
    read_only = mlmd_errors.InternalError("attempt to write a readonly database")
    assert storage.explain(read_only, [folder]).startswith(f"cannot write {folder}: the file system is read-only;")
    assert storage.explain(ValueError("bad value"), [folder]) is None
