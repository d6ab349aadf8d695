"""Which spans a run reads: the newest span (or the one asked for), the window of the latest N, and its reference.

Pure Python over a folder of `span-<N>/` folders (local, or gs:// and the like through tf.io.gfile). It runs where
the data is read, when it is read: inside ExampleGen's executor, and in the task that resolves the window on
Kubeflow, whose open-source backend never runs ExampleGen's driver. A folder without spans (CSV files directly in
it, or one file) counts as a single span 0. Which earlier spans were rejected by the drift check, and which one the
newest is compared with, are read from ML Metadata by the caller (components/drift_gate/ledger.py) and given here.
"""

import dataclasses
import hashlib
import json
import os
import re
import types

SPAN_DIR = re.compile(r"^span-(\d+)$")


class _LocalFiles:
    """The part of tf.io.gfile used here, for local paths: `kfx` checks the data without importing TensorFlow."""

    exists, isdir, listdir = staticmethod(os.path.exists), staticmethod(os.path.isdir), staticmethod(os.listdir)

    @staticmethod
    def stat(path: str) -> types.SimpleNamespace:
        result = os.stat(path)
        return types.SimpleNamespace(length=result.st_size, mtime_nsec=result.st_mtime_ns)


def _files(path: str):
    """os for local paths; tf.io.gfile (gs://, s3://, ...) for the others, imported when first needed."""
    if "://" not in path:
        return _LocalFiles
    import tensorflow as tf

    return tf.io.gfile


# The extra output splits of WindowExampleGen, and the custom properties it sets on its Examples artifact. The
# "previous" span is the drift check's reference: the last span before the newest that passed the check.
NEWEST_SPLIT, PREVIOUS_SPLIT = "newest_span", "previous_span"
SPAN_PROPERTY, WINDOW_PROPERTY, PREVIOUS_PROPERTY = "span", "window_spans", "previous_span"
FINGERPRINT_PROPERTY, FILES_PROPERTY = "window_fingerprint", "window_files"
# The newest span's own fingerprint (what a verdict on it holds for), and the spans left out as rejected.
SPAN_FINGERPRINT_PROPERTY, EXCLUDED_PROPERTY = "span_fingerprint", "excluded_spans"
# Per drift split: the properties counting its rows (all have a label) and its positive rows, for DriftGate.
LABEL_COUNT_PROPERTIES = {
    split: (f"{split}_labeled_rows", f"{split}_positive_rows") for split in (NEWEST_SPLIT, PREVIOUS_SPLIT)
}


class WindowError(ValueError):
    """The data folder does not hold what the window asks for; the message names the folder and the spans."""


@dataclasses.dataclass(frozen=True)
class Window:
    """The spans of one run; `files` lists the CSV files of every span used (window and previous)."""

    spans: tuple[int, ...]  # oldest first; the last one is the newest
    previous: int | None  # the drift check's reference, the last accepted span before the newest (None: none)
    files: dict[int, tuple[str, ...]]
    available: tuple[int, ...]  # every span in the folder
    excluded: tuple[int, ...] = ()  # earlier spans left out: the drift check rejected them

    @property
    def newest(self) -> int:
        return self.spans[-1]

    def fingerprint(self) -> str:
        """Changes when any file of the window or the previous span is added, removed, resized or rewritten."""
        return _fingerprint({span: self.files[span] for span in sorted(self.files)})

    def span_fingerprint(self, span: int) -> str:
        """Changes when a file of `span` is added, removed, resized or rewritten."""
        return _fingerprint({span: self.files[span]})

    def to_json(self) -> str:
        return json.dumps(
            {
                "spans": list(self.spans),
                "previous": self.previous,
                "available": list(self.available),
                "excluded": list(self.excluded),
            }
        )


def _fingerprint(files: dict[int, tuple[str, ...]]) -> str:
    digest = hashlib.sha256()
    for span, paths in files.items():
        for path in paths:
            stat = _files(path).stat(path)
            digest.update(f"{span}:{path}:{stat.length}:{stat.mtime_nsec}\n".encode())
    return digest.hexdigest()[:16]


def _csv_files(folder: str) -> tuple[str, ...]:
    names = [n for n in _files(folder).listdir(folder) if n.endswith(".csv") and not n.startswith(".")]
    return tuple(sorted(f"{folder.rstrip('/')}/{name}" for name in names))


def list_spans(data_root: str) -> dict[int, str]:
    """Span number -> folder, for the `span-<N>/` folders under `data_root`."""
    if not _files(data_root).isdir(data_root):
        return {}
    spans = {}
    for entry in _files(data_root).listdir(data_root):
        match = SPAN_DIR.match(entry.rstrip("/"))
        folder = f"{data_root.rstrip('/')}/{entry.rstrip('/')}"
        if match and _files(data_root).isdir(folder):
            number = int(match.group(1))
            if number in spans:
                raise WindowError(f"'{spans[number]}' and '{folder}' are both span {number}; rename or remove one")
            spans[number] = folder
    return spans


def resolve(
    data_root: str,
    size: int,
    newest: int | None = None,
    excluded: tuple[int, ...] = (),
    reference: int | None = None,
) -> Window:
    """The latest `size` spans present up to `newest` (default: the highest span in `data_root`), leaving out the
    earlier spans in `excluded`; the reference for drift is `reference`, else the latest earlier span kept."""
    if size < 1:
        raise WindowError(f"the window must hold at least 1 span, got {size}")
    if not _files(data_root).exists(data_root):
        raise WindowError(f"data path '{data_root}' does not exist")
    if not _files(data_root).isdir(data_root):
        return Window((0,), None, {0: (data_root,)}, (0,))
    folders = list_spans(data_root)
    if not folders:
        files = _csv_files(data_root)
        if not files:
            raise WindowError(f"data folder '{data_root}' has no .csv files and no span-<N>/ folders")
        if newest not in (None, 0):
            raise WindowError(f"--span {newest}: '{data_root}' has no span-<N>/ folders, only CSV files")
        return Window((0,), None, {0: files}, (0,))
    available = tuple(sorted(folders))
    newest = available[-1] if newest is None else newest
    if newest not in folders:
        raise WindowError(f"span {newest} is not in '{data_root}' (spans there: {_ranges(available)})")
    left_out = tuple(s for s in sorted(set(excluded)) if s in folders and s < newest)
    earlier = [s for s in available if s < newest and s not in left_out]
    # Present spans: a gap, or a span left out, does not shrink the window.
    spans = (*earlier[-(size - 1) :], newest) if size > 1 else (newest,)
    if reference is not None and reference not in earlier:
        raise WindowError(f"the drift reference, span {reference}, is not an earlier span kept in '{data_root}'")
    previous = reference if reference is not None else (earlier[-1] if earlier else None)
    files = {}
    for span in sorted(set(spans) | ({previous} if previous is not None else set())):
        files[span] = _csv_files(folders[span])
        if not files[span]:
            raise WindowError(f"span folder '{folders[span]}' has no .csv files")
    return Window(spans, previous, files, available, left_out)


def _ranges(spans: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in spans) if len(spans) < 6 else f"{spans[0]}..{spans[-1]} ({len(spans)} spans)"
