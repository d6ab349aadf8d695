"""Reading outcome files (CSV or JSON lines) and adding them to the outcome store, as `kfx feedback` does.

Columns: `request_id` (the `x-request-id` the server answered with), `label` (0/1 or true/false), optional `row` (the
row of a request that held several, default 0) and optional `time` (when the outcome happened: ISO 8601, UTC when it
names no zone, or seconds since the epoch). Other columns are ignored. A row that breaks a rule is reported with its
file, line, column and value and not stored; the others are. With request logs, outcomes whose (request id, row) no
logged request had are counted as unknown (and stored: their entries may be in logs not read yet, or not sampled).
"""

import csv
import dataclasses
import datetime
import io
import json
import math
import os
import re
from collections.abc import Iterator
from typing import Any

import pydantic

from feedback import store
from monitoring import request_logs

COLUMNS = ("request_id", "label", "row", "time")
REQUIRED = ("request_id", "label")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
REQUEST_ID = re.compile(r"[!-~]{1,128}")  # the server's rule: 1..128 printable ASCII characters, no spaces
LABELS = {"0": 0, "1": 1, "false": 0, "true": 1}
MAX_ROW = 2**31 - 1  # rows of one request; also keeps the value inside SQLite's integers


class FeedbackError(ValueError):
    """An outcome file that cannot be read at all: missing, not text, no header, missing a required column."""


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row that breaks a rule: where, which column, the value sent and the rule."""

    file: str
    line: int
    column: str | None  # None when the line itself is unreadable (not JSON, not an object)
    value: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.value!r}: {self.problem}"


@dataclasses.dataclass
class Ingested:
    """What `ingest` did: rows read, how many were new, repeated or conflicting, unknown ids and bad rows."""

    store: str
    files: list[str]
    read: int  # valid rows in the files
    new: int
    repeated: int
    conflicts: list[store.Conflict]
    bad: list[BadRow]
    logs: str | None  # the request logs the ids were checked against; None: not checked
    unknown: int  # valid rows whose (request id, row) is in no logged request (0 when not checked)
    unknown_ids: list[str]  # a few of them, for the message


class OutcomeRow(pydantic.BaseModel):
    """One outcome as sent; each validator's message is the rule the value broke."""

    model_config = pydantic.ConfigDict(extra="ignore")

    request_id: str
    label: int
    row: int = 0
    time: float | None = None

    @pydantic.field_validator("request_id", mode="before")
    @classmethod
    def _request_id(cls, value: Any) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not REQUEST_ID.fullmatch(text):
            raise ValueError("a request id is 1 to 128 printable ASCII characters without spaces")
        return text

    @pydantic.field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> int:
        key = str(value).strip().lower() if isinstance(value, bool | int | str) else None
        if key not in LABELS:
            raise ValueError("expected 0, 1, true or false")
        return LABELS[key]

    @pydantic.field_validator("row", mode="before")
    @classmethod
    def _row(cls, value: Any) -> int:
        if value is None or value == "":
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ROW:
            return value
        raise ValueError(f"expected a whole number from 0 to {MAX_ROW} (the row of the request)")

    @pydantic.field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> float | None:
        if value is None or value == "":
            return None
        return parse_time(value)


def parse_time(value: Any) -> float:
    """Seconds since the epoch from epoch seconds or ISO 8601 (UTC when it names no zone); ValueError otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(seconds):
                return seconds
        try:
            moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.timezone.utc)
            return moment.timestamp()
    raise ValueError("expected ISO 8601 (2026-01-31T12:00:00Z) or seconds since the epoch")


def read(path: str) -> tuple[list[store.Outcome], list[BadRow]]:
    """The valid outcomes of a CSV or JSON lines file (by suffix; otherwise by its first character) and its bad rows."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # utf-8-sig: spreadsheets start CSVs with a BOM
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise FeedbackError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    if not text.strip():
        raise FeedbackError(f"{path} is empty")
    as_json = path.lower().endswith(JSON_SUFFIXES) or (
        not path.lower().endswith(".csv") and text.lstrip().startswith("{")
    )
    rows = _json_lines(path, text) if as_json else _csv_rows(path, text)
    outcomes, bad = [], []
    for line, fields in rows:
        if isinstance(fields, BadRow):
            bad.append(fields)
            continue
        try:
            row = OutcomeRow.model_validate(fields)
        except pydantic.ValidationError as error:
            bad += [_bad_row(path, line, fields, problem) for problem in error.errors()]
            continue
        outcomes.append(store.Outcome(row.request_id, row.row, row.label, row.time, f"{path}:{line}"))
    return outcomes, bad


def _csv_rows(path: str, text: str) -> list[tuple[int, dict | BadRow]]:
    reader = csv.reader(io.StringIO(text))  # quoted fields may hold line breaks
    header = [name.strip() for name in next(_checked(path, reader))]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise FeedbackError(
            f"{path}: the header has no {', '.join(missing)} column (it has: {', '.join(header)}); "
            f"columns: {', '.join(COLUMNS)} (row and time optional)"
        )
    rows = []
    for values in _checked(path, reader):
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            rows.append((line, BadRow(path, line, None, ",".join(values), f"{len(values)} fields, the header has "
                                      f"{len(header)}")))  # fmt: skip
            continue
        rows.append((line, {name: value.strip() for name, value in zip(header, values, strict=True)}))
    return rows


def _checked(path: str, reader) -> Iterator[list[str]]:
    """The CSV reader's rows; a line it cannot parse at all (a NUL byte, a field past the size limit) stops the file."""
    try:
        yield from reader
    except csv.Error as error:
        raise FeedbackError(f"{path} line {reader.line_num}: not CSV ({error})") from None


def _json_lines(path: str, text: str) -> list[tuple[int, dict | BadRow]]:
    rows = []
    for line, content in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
        if not content.strip():
            continue
        try:
            fields = json.loads(content)
        except json.JSONDecodeError as error:
            rows.append((line, BadRow(path, line, None, content[:80], f"not JSON ({error.msg})")))
            continue
        if not isinstance(fields, dict):
            rows.append((line, BadRow(path, line, None, content[:80], "not a JSON object")))
            continue
        rows.append((line, fields))
    return rows


def _bad_row(path: str, line: int, fields: dict, problem: dict) -> BadRow:
    column = str(problem["loc"][0]) if problem["loc"] else None
    if problem["type"] == "missing":
        return BadRow(path, line, column, "", "missing")
    message = problem["msg"].removeprefix("Value error, ")
    return BadRow(path, line, column, str(fields.get(column, ""))[:80], message)


def logged_rows(logs: str) -> set[tuple[str, int]]:
    """Every (request id, row) of the entries in the request logs at `logs` (LogError when there are none)."""
    entries, _ = request_logs.entries(request_logs.log_files(logs))
    return {(entry.request_id, row) for entry in entries for row in range(len(entry.scores))}


def ingest(files: list[str], store_path: str, logs: str | None = None) -> Ingested:
    """Reads every file first (a FeedbackError before anything is stored), then adds the valid rows in one batch."""
    outcomes, bad = [], []
    for path in files:
        found, broken = read(path)
        outcomes += found
        bad += broken
    unknown_ids: list[str] = []
    if logs is not None:
        known = logged_rows(logs)
        unknown_ids = [o.request_id for o in outcomes if (o.request_id, o.row) not in known]
    added = store.add(store_path, outcomes)
    return Ingested(
        store=os.path.abspath(store_path),
        files=files,
        read=len(outcomes),
        new=added.new,
        repeated=added.repeated,
        conflicts=added.conflicts,
        bad=bad,
        logs=logs,
        unknown=len(unknown_ids),
        unknown_ids=list(dict.fromkeys(unknown_ids))[:5],
    )
