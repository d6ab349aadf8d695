"""What the window's rows hold beyond their cells' types: the label's values, features without any value, and text
among the whole numbers of a categorical column; each problem one line naming the key, the values, counts and fix.

Pure Python, no TFX types: `kfx run`'s data check (pipeline/data.py) counts every row into a `WindowTally`, and
WindowExampleGen's executor sums the same counts from Beam metrics, so both stop on the same data with the same words.
"""

import collections
import dataclasses
from collections.abc import Mapping, Sequence

from components.window_example_gen import rows as rows_lib

MAX_VALUES = 1000  # distinct label values or text cells of a column counted one by one; the rest only in totals
SHOWN_VALUES = 10  # label values named in the run header
INTEGER_SHARE = 0.9  # a categorical column with at least this share of whole numbers is meant to be integers
_CLASSES = {True: "positive", False: "negative", rows_lib.OTHER: "other"}
_LEFT_OUT = " (left out)"  # what happens to OTHER rows once they get past the checks (label.other: drop)


@dataclasses.dataclass
class WindowTally:
    """The window's rows: by label (True, False, None: missing, OTHER), the label column's values (categorical
    rule), feature columns that have a value, and per categorical column its whole numbers and its text cells."""

    rows: int = 0
    classes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    label_values: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    present: set = dataclasses.field(default_factory=set)
    integers: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    text_cells: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    texts: collections.defaultdict = dataclasses.field(default_factory=lambda: collections.defaultdict(dict))


def features(rules: rows_lib.Rules) -> tuple[str, ...]:
    """The configured feature columns, the label's columns aside (their missing cells are missing labels)."""
    return tuple(c for c in dict.fromkeys(rules.numeric + rules.categorical) if c not in rules.label.columns)


def count(
    rules: rows_lib.Rules,
    header: Sequence[str],
    batch: Sequence[tuple[int, list[str]]],
    labels: Sequence[bool | str | None],
    tally: WindowTally,
) -> None:
    """Counts the window rows of `batch` (with their `labels`) into `tally`, each distinct cell checked once."""
    index = {column: position for position, column in enumerate(header)}
    tally.rows += len(batch)
    tally.classes.update(labels)
    if rules.label.greater_than is None:
        _add(tally.label_values, collections.Counter(cells[index[rules.label.column]] for _, cells in batch))
    for column in features(rules):
        if column not in tally.present and any(not rules.is_missing(cells[index[column]]) for _, cells in batch):
            tally.present.add(column)
    for column in rules.categorical:
        for cell, found in collections.Counter(cells[index[column]] for _, cells in batch).items():
            if rules.is_missing(cell):
                continue
            if _is_integer(cell):
                tally.integers[column] += found
            else:
                tally.text_cells[column] += found
                _add(tally.texts[column], {cell: found})


def _add(counts: dict, found: Mapping[str, int]) -> None:
    """Adds `found` to `counts`, keeping at most MAX_VALUES distinct keys."""
    for value, number in found.items():
        if value in counts or len(counts) < MAX_VALUES:
            counts[value] = counts.get(value, 0) + number


def _is_integer(cell: str) -> bool:
    """Whether tfx_bsl would read the cell as an int64 (rows.parse_number's rule)."""
    try:
        int(cell)
    except ValueError:
        return False
    return rows_lib.parse_number(cell) is not None


def other_values(rules: rows_lib.Rules, label_values: Mapping[str, int]) -> dict[str, int]:
    """The label values (with their rows) in neither label.one_of nor label.negative, most frequent first."""
    found = {
        v: n for v, n in label_values.items() if not rules.is_missing(v) and rules.label.classify(v) == rows_lib.OTHER
    }
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def other_label_problem(rules: rows_lib.Rules, others: Mapping[str, int], total: int) -> str | None:
    """With label.other: stop, names each label value in neither set with its rows (`others`, of `total` such rows)."""
    label = rules.label
    if not total or label.other != "stop":
        return None
    shown = ", ".join(f"{value!r} {number:,}" for value, number in list(others.items())[:SHOWN_VALUES])
    more = total - sum(list(others.values())[:SHOWN_VALUES])
    shown += f" and {more:,} more row(s)" if more else ""
    known = {label.fold(v) for v in label.one_of + label.negative}
    variants = not label.fold_case and any(label.fold(value) in known for value in others)
    fold = ", set label.fold_case: true for case/space variants" if variants else ""
    return (
        f"label column '{label.column}' has values in neither label.one_of nor label.negative: {shown}; list them "
        f"under one_of or negative{fold}, or set label.other: drop to leave those rows out"
    )


def empty_feature_problem(rules: rows_lib.Rules, present: set, rows: int) -> str | None:
    """Feature columns without a single value in the window's `rows`."""
    empty = [column for column in features(rules) if column not in present]
    if not empty or not rows:
        return None
    names = ", ".join(f"'{column}'" for column in empty)
    return (
        f"feature column(s) {names} have no value in any of the window's {rows:,} rows (every cell is empty or one "
        "of data.missing_values); remove them from features or fill them in"
    )


def integer_text_problem(
    rules: rows_lib.Rules,
    integers: Mapping[str, int],
    text_cells: Mapping[str, int],
    texts: Mapping[str, Mapping[str, int | None]],
) -> str | None:
    """Categorical columns whose values are mostly whole numbers but some text: the text values (with their counts
    where known) and the fix; such a column would silently become a text column."""
    parts = []
    for column in rules.categorical:
        numbers, text = integers.get(column, 0), text_cells.get(column, 0)
        if not text or numbers < INTEGER_SHARE * (numbers + text):
            continue
        values = sorted((texts.get(column) or {}).items(), key=lambda item: (-(item[1] or 0), item[0]))
        shown = ", ".join(repr(value) + (f" {number:,}" if number else "") for value, number in values[:SHOWN_VALUES])
        parts.append(
            f"categorical column '{column}' holds whole numbers ({numbers:,} cells) and {text:,} text cell(s): {shown}"
        )
    if not parts:
        return None
    return (
        "; ".join(parts) + "; fix those cells, or list them under data.missing_values if they mean missing (as '?' "
        "does in UCI data)"
    )


def problem(rules: rows_lib.Rules, tally: WindowTally) -> str | None:
    """The first problem of the window's rows beyond the cells' types, in the order a user fixes them."""
    others = other_values(rules, tally.label_values)
    return (
        empty_feature_problem(rules, tally.present, tally.rows)
        or integer_text_problem(rules, tally.integers, tally.text_cells, tally.texts)
        or other_label_problem(rules, others, tally.classes[rows_lib.OTHER])
    )


def describe_label(rules: rows_lib.Rules, tally: WindowTally) -> str:
    """The label's counts in the window, e.g. "big_tipper: 2,412 positive, 1,976 negative, 12 missing", or for a
    categorical rule "male (sex): MALE 168 -> positive, FEMALE 165 -> negative, . 1 -> other (left out), missing 10"."""
    label, classes = rules.label, tally.classes
    if label.greater_than is not None:
        missing = f", {classes[None]:,} missing" if classes[None] else ""
        return f"{label.name}: {classes[True]:,} positive, {classes[False]:,} negative" + missing
    missing = f", missing {classes[None]:,}" if classes[None] else ""
    values = sorted(
        ((v, n) for v, n in tally.label_values.items() if not rules.is_missing(v)), key=lambda item: (-item[1], item[0])
    )
    parts = []
    for value, number in values[:SHOWN_VALUES]:
        found = label.classify(value)
        shown = value if value == value.strip() else repr(value)  # 'Male ' and Male differ
        parts.append(f"{shown} {number:,} -> {_CLASSES[found]}" + _LEFT_OUT * (found == rows_lib.OTHER))
    rest = classes[True] + classes[False] + classes[rows_lib.OTHER] - sum(n for _, n in values[:SHOWN_VALUES])
    if rest:
        parts.append(f"{rest:,} row(s) of other values")
    return f"{label.name} ({label.column}): {', '.join(parts) or 'no values'}{missing}"
