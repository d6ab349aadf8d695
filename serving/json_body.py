"""REST bodies to JSON values as TF Serving's rapidjson reads them: the same extensions, limits and error words.

TF Serving parses with kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag (util/json_tensor.cc,
rapidjson 1.1.0): NaN, Infinity and -Infinity are numbers, text after the document is ignored, a number too big
for a double is refused, and every error reads "JSON Parse error: <rapidjson's message> at offset: <byte>".
orjson parses (3 times faster than json) and bounds nesting at MAX_DEPTH; a body with NaN/Infinity tokens is
checked by orjson with the tokens masked, then read by Python's json.
"""

import contextlib
import json
import sys

import orjson

from serving.status import ServingError, invalid_argument

MAX_DEPTH = 1024  # orjson's nesting limit; rapidjson's iterative parser has none, TensorFlow tensors stop at 254
_BOM = b"\xef\xbb\xbf"  # rapidjson's EncodedInputStream skips it
# orjson's messages (3.x) as rapidjson words the same fault (reader.h, error/en.h).
_MESSAGES = (
    ("unexpected character, expected a JSON value", "Invalid value."),
    ("invalid literal", "Invalid value."),
    ("no digit after sign", "Invalid value."),
    ("unexpected character, expected a string key", "Missing a name for object member."),
    ("unexpected character, expected ':'", "Missing a colon after a name of object member."),
    ("unexpected character, expected ',' or ']'", "Missing a comma or ']' after an array element."),
    ("number with leading zero", "Missing a comma or ']' after an array element."),  # (in an object, '}')
    ("unexpected character, expected ',' or '}'", "Missing a comma or '}' after an object member."),
    ("number is infinity", "Number too big to be stored in double."),
    ("no digit after decimal point", "Miss fraction part in number."),
    ("no digit after exponent", "Miss exponent in number."),
    ("unexpected control character", "Invalid escape character in string."),
    ("str is not valid UTF-8", "Invalid encoding in string."),
    ("surrogate", "The surrogate pair in string is invalid."),
    ("depth limit exceeded", f"Nesting deeper than {MAX_DEPTH} levels."),
)
# Python's json messages, for the rare body with NaN/Infinity that orjson accepted masked but json refuses (json does
# not say whether a missing comma was an array's or an object's).
_PYTHON_MESSAGES = (
    ("Expecting property name", "Missing a name for object member."),
    ("Expecting ':'", "Missing a colon after a name of object member."),
    ("Expecting ','", "Missing a comma or ']' after an array element."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\uXXXX", "Incorrect hex digit after \\u escape in string."),
    ("Invalid", "Invalid escape character in string."),
)
_LITERALS = (b"true", b"false", b"null", b"NaN", b"Infinity")


def parse_error(message: str, offset: int) -> ServingError:
    return invalid_argument(f"JSON Parse error: {message} at offset: {offset}")


def loads(body: bytes):
    """The JSON value of a non-empty body, or INVALID_ARGUMENT in rapidjson's words."""
    skipped = len(_BOM) if body.startswith(_BOM) else 0
    body = body[skipped:]
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        offset = _byte_offset(body, error.pos)
        if error.msg.startswith("unexpected content after document"):
            return orjson.loads(body[:offset])  # kParseStopWhenDoneFlag
        if body.startswith((b"NaN", b"Infinity"), offset):
            return _loads_with_non_finite(body, skipped)
        raise _rapidjson_error(body, error.msg, offset, skipped) from None


def _loads_with_non_finite(body: bytes, skipped: int):
    """A body with NaN/Infinity tokens: orjson checks it with them masked (same length, so errors keep their
    offsets, and nesting and numbers are bounded as for any body), then json reads the tokens."""
    masked = body.replace(b"NaN", b"0.0").replace(b"Infinity", b"1.000000")
    try:
        orjson.loads(masked)
    except orjson.JSONDecodeError as error:
        offset = _byte_offset(masked, error.pos)
        if not error.msg.startswith("unexpected content after document"):
            raise _rapidjson_error(masked, error.msg, offset, skipped) from None
        body = body[:offset]
    text = body.decode()  # valid UTF-8: orjson read the same bytes
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        with _room_for_nesting():
            return json.JSONDecoder().raw_decode(text, start)[0]
    except json.JSONDecodeError as error:
        message = next((ours for theirs, ours in _PYTHON_MESSAGES if error.msg.startswith(theirs)), "Invalid value.")
        raise parse_error(message, len(text[: error.pos].encode()) + skipped) from None


@contextlib.contextmanager
def _room_for_nesting():
    """Lets json's C scanner nest MAX_DEPTH containers below the current Python stack (it counts both)."""
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, depth + MAX_DEPTH + 64))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _byte_offset(body: bytes, position: int) -> int:
    """orjson counts characters; rapidjson (and so TF Serving) counts bytes."""
    if body.isascii():
        return position
    return len(body.decode(errors="surrogateescape")[:position].encode(errors="surrogateescape"))


def _rapidjson_error(body: bytes, message: str, offset: int, skipped: int) -> ServingError:
    """orjson's refusal of `body` at `offset` in rapidjson's words and at rapidjson's offset."""
    if message.startswith(("unexpected end of data", "failed to allocate")):  # orjson's words for a cut body
        return parse_error(_end_of_data(body), len(body) + skipped)
    if message.startswith("input data is empty"):  # rapidjson reports the end of the whitespace
        return parse_error("The document is empty.", len(body) + skipped)
    if message.startswith("number with leading zero"):  # rapidjson reads the 0, then stops at the next digit
        offset += 1
    if message.startswith("trailing comma"):  # rapidjson stops at the closing bracket that follows the comma
        offset = len(body) - len(body[offset + 1 :].lstrip(b" \t\n\r"))
        in_object = body[offset : offset + 1] == b"}"
        return parse_error("Missing a name for object member." if in_object else "Invalid value.", offset + skipped)
    if message.startswith("invalid literal"):  # rapidjson reports the first byte that differs from the literal
        literal = next((word for word in _LITERALS if word[:1] == body[offset : offset + 1]), b"")
        while literal[:1] and body[offset : offset + 1] == literal[:1]:
            offset, literal = offset + 1, literal[1:]
    if message.startswith("invalid escaped sequence"):
        if body[offset : offset + 2] == b"\\u":
            return parse_error("Incorrect hex digit after \\u escape in string.", offset + skipped)
        return parse_error("Invalid escape character in string.", offset + skipped)
    if message.startswith("unexpected control character") and body[offset : offset + 1] == b"\x00":
        return parse_error("Missing a closing quotation mark in string.", offset + skipped)
    if message.startswith("str is not valid UTF-8"):
        try:
            body.decode()
        except UnicodeDecodeError as error:
            offset = error.start
    words = next((ours for theirs, ours in _MESSAGES if message.startswith(theirs) or theirs in message), None)
    return parse_error(words or "Invalid value.", offset + skipped)


def _end_of_data(body: bytes) -> str:
    """What rapidjson says when the body stops early, which depends on where its parser stood: found by the first
    ending that lets orjson read on (inside a string only an escape does; only a key fits before `:`)."""
    for suffix, words in (
        (b"\\", "Missing a closing quotation mark in string."),
        (b'"":0}', "Missing a name for object member."),
        (b":0}", "Missing a colon after a name of object member."),
        (b'""', "Invalid value."),
        (b"]", "Missing a comma or ']' after an array element."),
        (b"}", "Missing a comma or '}' after an object member."),
    ):
        if _completes(body + suffix):
            return words
    return "Invalid value."


def _completes(body: bytes) -> bool:
    """Whether `body` parses up to its end (a document still open there counts)."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return error.msg.startswith("unexpected end of data") and _byte_offset(body, error.pos) >= len(body)
    return True
