"""Larger copies of the shipped taxi sample for the scale benchmark, generated deterministically.

Each span of data/chicago_taxi/ is resampled with replacement to its share of the requested row count, and the
continuous columns get a little multiplicative noise (about 2%) so that rows are not byte-identical copies; empty
cells stay empty and integer columns stay integers, so the curated schema and the label rule apply unchanged.
The same seed and size always give the same files. They are written outside the repository and reused when present.
The "one_csv" shape writes the same rows, spans one after the other, to a single data.csv (no spans: the most common
shape of a user's data, which WindowExampleGen reads as one span with nothing to compare for drift).
Usage: python -m bench.scale_data ROWS [FOLDER] [--one-csv]
"""

import os
import sys
import tempfile

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "chicago_taxi")
SEED = 20261123
NOISE = 0.02
# Continuous columns that get noise, and how many decimals they keep.
NOISY = {"fare": 2, "tips": 2, "trip_miles": 2, "trip_seconds": 0}
COMPLETE = ".complete"  # written last: a folder without it was interrupted and is generated again
SPANS, ONE_CSV = "spans", "one_csv"  # the shapes: a folder of span-<N>/ folders, or one CSV file in a folder


def default_folder(rows: int, shape: str = SPANS) -> str:
    suffix = "-one" if shape == ONE_CSV else ""
    return os.path.join(tempfile.gettempdir(), "kfx-bench-data", f"taxi-{rows}{suffix}")


def generate(rows: int, folder: str | None = None, shape: str = SPANS) -> str:
    """Writes `<folder>/span-<N>/data.csv` holding `rows` rows in all, split across spans as in the sample; with
    shape "one_csv", the same rows to `<folder>/data.csv`."""
    if shape not in (SPANS, ONE_CSV):
        raise ValueError(f"shape must be '{SPANS}' or '{ONE_CSV}', got '{shape}'")
    folder = folder or default_folder(rows, shape)
    if os.path.exists(os.path.join(folder, COMPLETE)):
        return folder
    spans = sorted(os.listdir(SAMPLE), key=lambda name: int(name.removeprefix("span-")))
    frames = {
        span: pd.read_csv(os.path.join(SAMPLE, span, "data.csv"), dtype=str, keep_default_na=False) for span in spans
    }
    total = sum(len(frame) for frame in frames.values())
    rng = np.random.default_rng(SEED)
    os.makedirs(folder, exist_ok=True)
    for index, (span, frame) in enumerate(frames.items()):
        size = round(rows * len(frame) / total)
        sample = frame.iloc[rng.integers(0, len(frame), size)].reset_index(drop=True)
        for column, decimals in NOISY.items():
            sample[column] = _with_noise(sample[column], decimals, rng)
        if shape == ONE_CSV:
            sample.to_csv(os.path.join(folder, "data.csv"), index=False, mode="a" if index else "w", header=not index)
        else:
            os.makedirs(os.path.join(folder, span), exist_ok=True)
            sample.to_csv(os.path.join(folder, span, "data.csv"), index=False)
    open(os.path.join(folder, COMPLETE), "w").close()
    return folder


def _with_noise(cells: pd.Series, decimals: int, rng: np.random.Generator) -> pd.Series:
    """Cells multiplied by exp(N(0, NOISE)), rounded to `decimals`; empty cells stay empty."""
    present = cells != ""
    values = cells[present].astype(float) * np.exp(rng.normal(0.0, NOISE, int(present.sum())))
    noisy = cells.copy()
    noisy[present] = [f"{value:.{decimals}f}" for value in values.round(decimals)]
    return noisy


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if argument != "--one-csv"]
    shape = ONE_CSV if "--one-csv" in sys.argv[1:] else SPANS
    print(generate(int(arguments[0]), arguments[1] if len(arguments) > 1 else None, shape))
