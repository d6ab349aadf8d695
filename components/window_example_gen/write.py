"""How WindowExampleGen writes its splits: each row as it is encoded, into gzipped TFRecord files of SHARD_ROWS rows.

TFX's ExampleGen puts a Reshuffle (a GroupByKey) before its writer, which Beam's in-memory runner holds whole: at
1.5 million rows that was most of the run's peak memory. Here the step that encodes a CSV file writes its rows
straight to shard files named `data_tfrecord-<split>-<shard>-<span>-<file>.gz` (TFX's `data_tfrecord-*.gz`, which
every reader of an Examples artifact globs), so memory holds one batch of rows, whatever the data size. The names
are deterministic and so is their content: a retried step rewrites the same files. What the Reshuffle gave is kept
where it matters: each shard is a sample of its whole file, the Trainer reads the train split's shards in random
order, two at a time, through a shuffle buffer (models/trainer.py), and an ordered read (the validation rows, the
Tuner's blocks) starts with shard 0 of every span, not with the first rows of the oldest one.
"""

import os

import tensorflow as tf

FILE_PREFIX = "data_tfrecord"  # TFX's DEFAULT_TF_RECORD_FILE_NAME: readers glob Split-<name>/*
SHARD_BYTES = 2**21  # CSV bytes per shard: about 12,000 taxi rows, 90 shards per split at 1.5 million rows
_SPREAD = 2_654_435_761  # Knuth's multiplicative hash: consecutive lines land in different shards


def split_dir(examples_uri: str, split: str) -> str:
    """TFX's folder of a split in an Examples artifact (artifact_utils.get_split_uri)."""
    return os.path.join(examples_uri, f"Split-{split}")


def span_pattern(examples_uri: str, split: str, span: int) -> str:
    """The files of `split` that hold rows of `span`."""
    return os.path.join(split_dir(examples_uri, split), f"{FILE_PREFIX}-{split}-*-{span:05d}-*.gz")


def shard_count(csv_bytes: int) -> int:
    """Shards per split for a CSV file of `csv_bytes`: at least one."""
    return csv_bytes // SHARD_BYTES + 1


class ShardWriter:
    """Gzipped TFRecord files of one split's rows from one CSV file: `shards` files, each row to the shard its line
    number hashes to, so that every shard is a sample of the whole file (and of its time range) in file order. Named
    shard first, `data_tfrecord-<split>-<shard>-<span>-<file>.gz`: the first files in name order (what an ordered
    read, such as the Trainer's validation rows, takes first) hold rows of every span."""

    def __init__(self, examples_uri: str, split: str, span: int, file_index: int, shards: int):
        self._folder, self._name = split_dir(examples_uri, split), f"{split}-{{:05d}}-{span:05d}-{file_index:05d}"
        self._writers: dict[int, tf.io.TFRecordWriter] = {}
        self._shards = shards

    def write(self, record: bytes, line: int) -> None:
        shard = ((line * _SPREAD) % 2**32 * self._shards) >> 32  # the hash's high bits, spread over the shards
        writer = self._writers.get(shard)
        if writer is None:
            path = os.path.join(self._folder, f"{FILE_PREFIX}-{self._name.format(shard)}.gz")
            writer = self._writers[shard] = tf.io.TFRecordWriter(path, options="GZIP")
        writer.write(record)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


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
