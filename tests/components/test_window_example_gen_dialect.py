"""The CSV dialect (pure Python): the delimiter and the encoding, given or detected from a file's first bytes."""

import io

import pytest

from components.window_example_gen import dialect


@pytest.mark.parametrize(
    "text, delimiter",
    [
        ("age;region;sex\n31;north;M\n45;south;F\n", ";"),
        ("age,region,sex\n31,north,M\n45,south,F\n", ","),
        ("age\tregion\n31\tnorth\n", "\t"),
        ('age|note\n31|"a|b"\n45|c\n', "|"),
        ('name,note\n"Smith; John","a; b"\n"Doe; Jane","c; d"\n', ","),  # ';' only inside quotes
        ("age\n31\n45\n", ","),  # one column: nothing to find
        ("age:region\n31:north\n", ","),  # not a delimiter kfx reads
    ],
    ids=["semicolon", "comma", "tab", "pipe", "quoted", "one-column", "colon"],
)
def test_the_delimiter_is_sniffed_among_the_four_else_comma(tmp_path, text, delimiter):
    path = tmp_path / "data.csv"
    path.write_text(text)
    found = dialect.detect(str(path))
    assert (found.delimiter, found.encoding, found.detected) == (delimiter, "utf-8-sig", True)


def test_a_file_that_is_not_utf8_is_read_as_cp1252_and_said_so(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("ville;prénom\nBesançon;René\n".encode("cp1252"))
    found = dialect.detect(str(path))
    assert (found.delimiter, found.encoding) == (";", "cp1252")
    assert found.describe() == "delimiter ';' (detected), encoding cp1252 (detected: the file is not UTF-8)"


def test_a_character_cut_at_the_end_of_the_head_is_still_utf8():
    row = "Zürich,é\n".encode()
    data = b"city,letter\n" + row * (dialect.HEAD_BYTES // len(row) + 1)
    cuts = [cut for cut in range(dialect.HEAD_BYTES - 12, dialect.HEAD_BYTES) if not _decodes(data[:cut])]
    assert cuts  # places where a two-byte character is cut in half
    for cut in cuts:
        assert dialect.detect_head((data[:cut], False)).encoding == "utf-8-sig", cut
        assert dialect.detect_head((data[:cut], True)).encoding == "cp1252", cut  # the whole file: truly not UTF-8


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_given_settings_override_detection_and_utf8_skips_a_byte_order_mark(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffa;b\n1;2\n".encode())
    given = dialect.detect(str(path), delimiter=",", encoding="utf-8")
    assert (given.delimiter, given.encoding, given.detected) == (",", "utf-8-sig", False)
    assert given.describe() == "delimiter ',', encoding utf-8"
    half = dialect.detect(str(path), encoding="latin-1")
    assert half.describe() == "delimiter ';' (detected), encoding latin-1"


def test_the_first_byte_that_does_not_decode_is_found_past_the_head_and_across_chunks():
    body = "x,é\n".encode() * 40_000
    late = body + "y,é\n".encode("cp1252")
    assert dialect.first_undecodable(io.BytesIO(late), "utf-8-sig") == (len(body) + 2, 0xE9)
    assert dialect.first_undecodable(io.BytesIO(body + b"\xc3"), "utf-8-sig") == (len(body), 0xC3)
    assert dialect.first_undecodable(io.BytesIO(body), "utf-8-sig") is None
    message = dialect.decode_problem("d.csv", "utf-8-sig", len(body) + 2, 0xE9)
    assert message == (
        "'d.csv' is not utf-8 text: byte 0xe9 at offset 200,002 does not decode; set data.encoding to the file's "
        "encoding (e.g. cp1252, latin-1)"
    )
