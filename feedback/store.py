"""The outcome store: `<workspace>/feedback/outcomes.sqlite`, one row per (request id, row) with its 0/1 label.

Stdlib sqlite3 in WAL mode, so `kfx monitor` (monitoring/online.py reads the `outcomes` table read-only) can read
while a batch is being ingested. Adding is idempotent: an outcome already stored with the same label is counted as
repeated; with another label it is a conflict, recorded in the `conflicts` table, and the first label is kept.
"""

import dataclasses
import os
import sqlite3
import time

FOLDER, FILE = "feedback", "outcomes.sqlite"
BUSY_TIMEOUT_MS = 30_000  # another ingestion holding the write lock: wait for it rather than fail
SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    outcome_time REAL,  -- when the outcome happened, seconds since the epoch (UTC); NULL when not sent
    received REAL NOT NULL,  -- when it was ingested
    source TEXT NOT NULL,  -- file:line it came from
    PRIMARY KEY (request_id, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    kept_label INTEGER NOT NULL,
    refused_label INTEGER NOT NULL,
    received REAL NOT NULL,
    source TEXT NOT NULL
);
"""


class StoreError(OSError):
    """The store cannot be created, opened or written."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened for row `row` of request `request_id`: label 1 (positive) or 0, and when, if known."""

    request_id: str
    row: int
    label: int
    time: float | None
    source: str  # file:line


@dataclasses.dataclass(frozen=True)
class Conflict:
    """An outcome sent again with another label than the one stored; the stored (first) label is kept."""

    request_id: str
    row: int
    kept_label: int
    refused_label: int
    source: str


@dataclasses.dataclass
class Added:
    """What adding a batch did."""

    new: int = 0
    repeated: int = 0  # already stored with the same label (or sent twice in the batch)
    conflicts: list[Conflict] = dataclasses.field(default_factory=list)


def path(workspace: str) -> str:
    """Where the store of a workspace lives."""
    return os.path.join(workspace, FOLDER, FILE)


def connect(store_path: str) -> sqlite3.Connection:
    """Opens (creating it and its folder when missing) the store in WAL mode.

    Switching to WAL and creating the tables take locks that SQLite's busy timeout does not always wait for (it
    answers "database is locked" at once rather than risk a deadlock), so several ingestions that open a new store
    at the same moment try again until the busy timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        connection = None
        try:
            os.makedirs(os.path.dirname(os.path.abspath(store_path)), exist_ok=True)
            connection = sqlite3.connect(store_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            return connection
        except (OSError, sqlite3.Error) as error:
            if connection is not None:
                connection.close()
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise StoreError(f"cannot open the outcome store {store_path}: {error}") from None
            time.sleep(0.05)


def add(store_path: str, outcomes: list[Outcome]) -> Added:
    """Stores the outcomes in one transaction, in order: the first label of a (request id, row) is the one kept."""
    added, received = Added(), time.time()
    connection = connect(store_path)
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer at a time; readers go on reading (WAL)
        for outcome in outcomes:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
                (outcome.request_id, outcome.row, outcome.label, outcome.time, received, outcome.source),
            )
            if cursor.rowcount == 1:
                added.new += 1
                continue
            (kept,) = connection.execute(
                "SELECT label FROM outcomes WHERE request_id = ? AND row = ?", (outcome.request_id, outcome.row)
            ).fetchone()
            if kept == outcome.label:
                added.repeated += 1
                continue
            conflict = Conflict(outcome.request_id, outcome.row, kept, outcome.label, outcome.source)
            connection.execute(
                "INSERT INTO conflicts VALUES (?, ?, ?, ?, ?, ?)",
                (conflict.request_id, conflict.row, kept, outcome.label, received, outcome.source),
            )
            added.conflicts.append(conflict)
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise StoreError(f"cannot write the outcome store {store_path}: {error}") from None
    finally:
        connection.close()
    return added


def count(store_path: str) -> int:
    """The number of outcomes stored (0 when there is no store yet)."""
    if not os.path.exists(store_path):
        return 0
    connection = connect(store_path)
    try:
        return connection.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    finally:
        connection.close()
