"""A generated CSV as users export them: odd column names, NA tokens, quoted fields with commas, ';' delimiters.

Its columns, and the role `kfx init` should give each:
  "patient_id"   1, 2, 3, ... (identifier)          "mean radius"  numbers (numeric)
  "Sex (M/F)"    M or F (categorical)                "grade"        integer codes 1-4 (categorical)
  "income"       numbers, some "NA" or "" (numeric)  "ca"           codes 0-3, some "?" (categorical; "?" missing)
  "pickup lat"   coordinates (bucketized)            "site"         always "north" (constant)
  "notes"        sentences with commas (free text)   "lab ref"      "LR-<n>", all distinct (identifier)
  "city"         ~70% distinct names (high-cardinality text)
  "unused"       always empty (empty)                "outcome"      yes or no, from mean radius, sex and grade
"""

import csv
import random

COLUMNS = (
    "patient_id", "mean radius", "Sex (M/F)", "grade", "income", "ca", "pickup lat", "site", "notes", "lab ref",
    "city", "unused", "outcome",
)  # fmt: skip
EXPECTED_ROLES = {
    "patient_id": "left out",
    "mean radius": "numeric",
    "Sex (M/F)": "categorical",
    "grade": "categorical",
    "income": "numeric",
    "ca": "categorical",
    "pickup lat": "bucketized",
    "site": "left out",
    "notes": "left out",
    "lab ref": "left out",
    "city": "left out",
    "unused": "left out",
    "outcome": "label",
}
_WORDS = "the patient reported mild pain after walking, slept well and asked about the next visit".split()


def rows(count: int, seed: int = 0) -> list[list[str]]:
    """`count` rows of the columns above; the outcome is learnable from mean radius, sex and grade."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        radius = rng.gauss(14, 3)
        sex = rng.choice("MF")
        grade = rng.randint(1, 4)
        score = 1.2 * (radius - 14) / 3 + (0.8 if sex == "M" else -0.8) + 0.5 * (grade - 2.5) + rng.gauss(0, 0.7)
        income = rng.choice(["NA", ""]) if index % 7 == 0 else f"{rng.uniform(20_000, 90_000):.2f}"
        ca = "?" if index % 13 == 0 else str(rng.randint(0, 3))
        notes = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + ", then left."
        found.append([
            str(index + 1), f"{radius:.3f}", sex, str(grade), income, ca,
            f"{41.8 + rng.uniform(-0.1, 0.1):.6f}", "north", notes, f"LR-{rng.randrange(10**9):09d}",
            f"town{rng.randrange(int(count * 2.3))}", "", "yes" if score > 0 else "no",
        ])  # fmt: skip
    return found


def write(path: str, count: int, delimiter: str = ";", seed: int = 0) -> str:
    """Writes the CSV (header and `count` rows) at `path`; returns `path`."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(COLUMNS)
        writer.writerows(rows(count, seed))
    return path
