"""How WindowExampleGen writes its splits: each row as it is encoded, into gzipped TFRecord files of SHARD_ROWS rows.

TFX's ExampleGen puts a Reshuffle (a GroupByKey) before its writer, which Beam's in-memory runner holds whole: at
1.5 million rows that was most of the run's peak memory. Here the step that encodes a CSV file writes its rows
straight to files named `data_tfrecord-<split>-<span>-<file>-<shard>.gz` (TFX's `data_tfrecord-*.gz`, which every
reader of an Examples artifact globs), so memory holds one batch of rows, whatever the data size. The names are
deterministic and so is their content: a retried step rewrites the same files. What the Reshuffle gave is kept
where it matters: the Trainer reads the train split's shards in random order, two at a time, through a shuffle
buffer (models/trainer.py), so it trains on shards from across the whole window, not on the first rows of a file.
"""

import os

import tensorflow as tf

FILE_PREFIX = "data_tfrecord"  # TFX's DEFAULT_TF_RECORD_FILE_NAME: readers glob Split-<name>/*
SHARD_ROWS = 16_384  # rows per file: about 90 files per split at 1.5 million rows, read in random order


def split_dir(examples_uri: str, split: str) -> str:
    """TFX's folder of a split in an Examples artifact (artifact_utils.get_split_uri)."""
    return os.path.join(examples_uri, f"Split-{split}")


def span_pattern(examples_uri: str, split: str, span: int) -> str:
    """The files of `split` that hold rows of `span`."""
    return os.path.join(split_dir(examples_uri, split), f"{FILE_PREFIX}-{split}-{span:05d}-*.gz")


class ShardWriter:
    """Gzipped TFRecord files of one split's rows from one CSV file, a new file every SHARD_ROWS rows."""

    def __init__(self, examples_uri: str, split: str, span: int, file_index: int):
        self._prefix = os.path.join(
            split_dir(examples_uri, split), f"{FILE_PREFIX}-{split}-{span:05d}-{file_index:05d}"
        )
        self._writer: tf.io.TFRecordWriter | None = None
        self._rows = self._shards = 0

    def write(self, record: bytes) -> None:
        if self._writer is None or self._rows == SHARD_ROWS:
            self.close()
            path = f"{self._prefix}-{self._shards:05d}.gz"
            self._writer, self._rows, self._shards = tf.io.TFRecordWriter(path, options="GZIP"), 0, self._shards + 1
        self._writer.write(record)
        self._rows += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def link_span(examples_uri: str, from_splits: list[str], span: int, to_split: str) -> None:
    """Makes `to_split` hold the rows of `span` already written to `from_splits` (train and eval) without writing
    them again: hard links on a local disk, a copy of the compressed files elsewhere (gs://: a server-side copy)."""
    for split in from_splits:
        for path in tf.io.gfile.glob(span_pattern(examples_uri, split, span)):
            target = os.path.join(split_dir(examples_uri, to_split), os.path.basename(path))
            if "://" in path:
                tf.io.gfile.copy(path, target, overwrite=True)
            else:
                os.link(path, target)


def ensure_readable(examples_uri: str, splits: list[str]) -> None:
    """An empty file in a split that got no rows, as TFX's writer leaves: readers fail on a folder without files."""
    for split in splits:
        if not tf.io.gfile.glob(os.path.join(split_dir(examples_uri, split), "*.gz")):
            tf.io.TFRecordWriter(
                os.path.join(split_dir(examples_uri, split), f"{FILE_PREFIX}-empty.gz"), "GZIP"
            ).close()
