"""How a CSV file is written: its field delimiter and its text encoding, given or detected from its first bytes.

Pure Python, no TFX types: `kfx run`'s data check (pipeline/data.py), WindowExampleGen's reader (read.py) and
`kfx init` resolve a file's dialect with the same function, so they read the same columns.

Detection reads the first 64 KiB: the encoding is UTF-8 (a byte-order mark skipped) when they decode as UTF-8, else
cp1252 (Windows' Western European code page, what spreadsheets export); the delimiter is what csv.Sniffer finds
among `, ; tab |` in the first lines, else ','.
"""

import codecs
import csv
import dataclasses
from typing import BinaryIO

AUTO = "auto"
DELIMITERS = (",", ";", "\t", "|")
HEAD_BYTES = 64 * 1024
_SNIFFED_LINES = 50
_FALLBACK_ENCODING = "cp1252"
_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


@dataclasses.dataclass(frozen=True)
class Dialect:
    """The delimiter and the codec to read a file with; `detected`: at least one of them was found in the data (the
    settings said auto), `detected_fields` says which ("delimiter", "encoding")."""

    delimiter: str
    encoding: str
    detected: bool
    detected_fields: tuple[str, ...] = ()

    def describe(self) -> str:
        """E.g. "delimiter ';' (detected), encoding utf-8 (detected)"."""
        encoding = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        how = {field: " (detected)" if field in self.detected_fields else "" for field in ("delimiter", "encoding")}
        if self.encoding == _FALLBACK_ENCODING and "encoding" in self.detected_fields:
            how["encoding"] = " (detected: the file is not UTF-8)"
        delimiter = name(self.delimiter)
        return f"delimiter {delimiter}{how['delimiter']}, encoding {encoding}{how['encoding']}"


def name(delimiter: str) -> str:
    """How messages write a delimiter: ';', tab."""
    return _NAMES.get(delimiter, repr(delimiter))


def detect(path: str, delimiter: str = AUTO, encoding: str = AUTO) -> Dialect:
    """The dialect of the local file at `path`: `delimiter` and `encoding` as given, or detected when AUTO."""
    with open(path, "rb") as f:
        return detect_head(read_head(f), delimiter, encoding)


def read_head(f: BinaryIO) -> tuple[bytes, bool]:
    """The first HEAD_BYTES of a binary file, and whether they are the whole file."""
    head = f.read(HEAD_BYTES + 1)
    return head[:HEAD_BYTES], len(head) <= HEAD_BYTES


def detect_head(head: tuple[bytes, bool], delimiter: str = AUTO, encoding: str = AUTO) -> Dialect:
    """The dialect of a file whose first bytes are `head` (read_head's: bytes, and whether they are all of it)."""
    data, complete = head
    detected = []
    if encoding == AUTO:
        encoding = "utf-8-sig" if _decodes(data, "utf-8-sig", complete) else _FALLBACK_ENCODING
        detected.append("encoding")
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column's name
    if delimiter == AUTO:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=complete)
        delimiter = sniff(text, complete)
        detected.append("delimiter")
    return Dialect(delimiter, encoding, bool(detected), tuple(detected))


def sniff(text: str, complete: bool = True) -> str:
    """The delimiter among DELIMITERS that csv.Sniffer finds in the first lines of `text`, else ','."""
    lines = text.splitlines(keepends=True)
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    sample = "".join(lines[:_SNIFFED_LINES])
    try:
        found = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:  # one column, or no delimiter used consistently
        return ","
    return found if found in DELIMITERS else ","


def _decodes(data: bytes, encoding: str, complete: bool) -> bool:
    """Whether `data` decodes; a character cut at the end of an incomplete head is not an error."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def first_undecodable(f: BinaryIO, encoding: str) -> tuple[int, int] | None:
    """(offset, byte) of the first byte of the binary file `f` that `encoding` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    while chunk := f.read(HEAD_BYTES):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as error:
            pending = len(decoder.getstate()[0]) if hasattr(decoder, "getstate") else 0
            at = offset - pending + error.start
            return at, error.object[error.start]
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        return offset - (len(error.object) - error.start), error.object[error.start]
    return None


def decode_problem(path: str, encoding: str, offset: int, byte: int) -> str:
    """One line for a file that the dialect's encoding cannot read: where, and the fix."""
    name = "utf-8" if encoding == "utf-8-sig" else encoding
    other = "cp1252" if name == "utf-8" else "utf-8"
    return (
        f"'{path}' is not {name} text: byte {byte:#04x} at offset {offset:,} does not decode; set data.encoding to "
        f"the file's encoding (e.g. {other}, latin-1)"
    )
