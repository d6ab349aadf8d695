"""serving/json_body.py against rapidjson 1.1.0 as TF Serving runs it (kParseIterativeFlag | kParseNanAndInfFlag |
kParseStopWhenDoneFlag): what it accepts, and its words and byte offsets for what it refuses (reader.h, en.h)."""

import math
import time

import grpc
import pytest

from serving import json_body
from serving.status import ServingError


def refusal(body: bytes) -> str:
    with pytest.raises(ServingError) as raised:
        json_body.loads(body)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.message


def test_non_finite_tokens_are_numbers():
    nan, positive, negative, plain = json_body.loads(b'{"a": [NaN, Infinity, -Infinity, 1.5]}')["a"]

    assert math.isnan(nan) and positive == math.inf and negative == -math.inf and plain == 1.5


@pytest.mark.parametrize(
    "body", [b'{"a": 1} trailing', b'{"a": NaN} {"b": 2}', b'\xef\xbb\xbf{"a": 1}'], ids=["text", "nan", "bom"]
)
def test_text_after_the_document_and_a_byte_order_mark_are_ignored(body):
    assert list(json_body.loads(body)) == ["a"]


def test_integers_beyond_uint64_become_doubles_as_in_rapidjson():
    assert json_body.loads(b"[18446744073709551615, 18446744073709551616]") == [2**64 - 1, 2.0**64]


REFUSED = [
    # (body, rapidjson's message, offset): where the parser stood decides the message.
    (b"instances = [1, 2]", "Invalid value.", 0),  # TF Serving's http_rest_api_handler_test
    (b"{not json", "Missing a name for object member.", 1),
    (b'{"a" 1}', "Missing a colon after a name of object member.", 5),
    (b'{"a": 1 "b": 2}', "Missing a comma or '}' after an object member.", 8),
    (b"[1 2]", "Missing a comma or ']' after an array element.", 3),
    (b"[01]", "Missing a comma or ']' after an array element.", 2),
    (b"[1, ]", "Invalid value.", 4),
    (b'{"a": 1, }', "Missing a name for object member.", 9),
    (b"[tru]", "Invalid value.", 4),  # after the bytes that match the literal
    (b"[Nan]", "Invalid value.", 1),
    (b"[1e400]", "Number too big to be stored in double.", 1),
    (b"[NaN, -1e400]", "Number too big to be stored in double.", 6),
    (b"[" + b"9" * 400 + b"]", "Number too big to be stored in double.", 1),
    (b"[1.]", "Miss fraction part in number.", 3),
    (b"[1e]", "Miss exponent in number.", 3),
    (b'["\\x"]', "Invalid escape character in string.", 2),
    (b'["\\u12G4"]', "Incorrect hex digit after \\u escape in string.", 2),
    (b'["\\ud800"]', "The surrogate pair in string is invalid.", 2),
    (b'["a\x01"]', "Invalid escape character in string.", 3),
    (b'["a\x00"]', "Missing a closing quotation mark in string.", 3),
    (b'["\xc3\xa9", x]', "Invalid value.", 7),  # offsets count bytes, not characters
    (b"   ", "The document is empty.", 3),
    # A body cut short: the message depends on where it stops.
    (b'["ab', "Missing a closing quotation mark in string.", 4),
    (b"[1,", "Invalid value.", 3),
    (b"{", "Missing a name for object member.", 1),
    (b'{"a"', "Missing a colon after a name of object member.", 4),
    (b'{"a":', "Invalid value.", 5),
    (b'{"a": 1', "Missing a comma or '}' after an object member.", 7),
    (b"[1", "Missing a comma or ']' after an array element.", 2),
    # Nesting: rapidjson's iterative parser has no limit; ours is orjson's, with or without NaN in the body.
    (b"[" * 2000 + b"]" * 2000, "Nesting deeper than 1024 levels.", 1025),
    (b"[NaN, " + b"[" * 2000 + b"]" * 2001, "Nesting deeper than 1024 levels.", 1030),
]


@pytest.mark.parametrize(("body", "message", "offset"), REFUSED, ids=[repr(b[:24]) for b, _, _ in REFUSED])
def test_refusals_use_rapidjsons_words_and_byte_offsets(body, message, offset):
    assert refusal(body) == f"JSON Parse error: {message} at offset: {offset}"


def test_a_refused_body_costs_a_few_parses_of_it():
    body = b'{"instances": [' + b'"' + b"a" * 10_000_000  # 10 MB cut inside a string
    started = time.monotonic()

    message = refusal(body)

    assert message == f"JSON Parse error: Missing a closing quotation mark in string. at offset: {len(body)}"
    assert time.monotonic() - started < 1.0  # C speed, not a Python loop over 10 million bytes
