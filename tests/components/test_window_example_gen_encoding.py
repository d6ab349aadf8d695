"""The cached example encoder gives exactly the bytes of protobuf's deterministic serialization."""

import random

import pytest
from tfx_bsl.coders import csv_decoder

from components.window_example_gen import encoding

T = csv_decoder.ColumnType
# Names out of order, one sorting differently as bytes than case-folded, and a non-ASCII one.
COLUMNS = [
    csv_decoder.ColumnInfo("tips", T.FLOAT),
    csv_decoder.ColumnInfo("company", T.STRING),
    csv_decoder.ColumnInfo("Zone", T.STRING),
    csv_decoder.ColumnInfo("trip_seconds", T.INT),
    csv_decoder.ColumnInfo("größe", T.FLOAT),
    csv_decoder.ColumnInfo("fare", T.FLOAT),
]


def _cell(rng: random.Random, info: csv_decoder.ColumnInfo) -> bytes:
    if rng.random() < 0.15:
        return b""  # missing
    if info.type == T.INT:
        return str(rng.choice([0, 7, -3, 2**40, -(2**63), 2**63 - 1, rng.randrange(10**6)])).encode()
    if info.type == T.FLOAT:
        return rng.choice([b"0", b"1.5", b"-2e-5", b"nan", b"inf", str(rng.random() * 100).encode()])
    return rng.choice(["Cash", "Taxi, Inc.", "Ünïcode", "x" * 300, 'quoted "name"']).encode()


def test_encoded_rows_equal_deterministic_protobuf_serialization(monkeypatch):
    monkeypatch.setattr(encoding, "MAX_CACHED", 50)  # the caches fill and start again many times
    rng = random.Random(7)
    encoder = encoding.ExampleEncoder(COLUMNS)
    for _ in range(3000):
        cells = [_cell(rng, info) for info in COLUMNS]
        expected = encoding.example(cells, COLUMNS).SerializeToString(deterministic=True)
        assert encoder.encode(cells) == expected, cells


def test_a_row_of_missing_cells_is_an_empty_example():
    assert encoding.ExampleEncoder(COLUMNS).encode([b""] * len(COLUMNS)) == b"\x0a\x00"


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="5 cells for 6 columns"):
        encoding.ExampleEncoder(COLUMNS).encode([b"1"] * 5)
