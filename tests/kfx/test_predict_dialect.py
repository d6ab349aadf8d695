"""`kfx predict --csv` reads a file as `kfx run` reads the training data: the configuration's delimiter and encoding,
detected where they say auto."""

import types

from kfx import predict_cmd
from serving.request_rows import read_rows


def _config(delimiter: str = "auto", encoding: str = "auto"):
    return types.SimpleNamespace(data=types.SimpleNamespace(delimiter=delimiter, encoding=encoding))


def test_a_semicolon_separated_cp1252_file_is_read_as_training_reads_it(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes("région;Sex (M/F)\nÎle;M\nNord;F\n".encode("cp1252"))
    delimiter, encoding = predict_cmd._dialect(str(path), _config())
    assert (delimiter, encoding) == (";", "cp1252")
    rows = read_rows(str(path), True, None, delimiter, encoding)
    assert rows == [{"région": "Île", "Sex (M/F)": "M"}, {"région": "Nord", "Sex (M/F)": "F"}]


def test_the_configuration_s_explicit_dialect_wins_and_stdin_takes_it_as_given(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a|b\n1|2\n", encoding="utf-8")
    assert predict_cmd._dialect(str(path), _config("|", "utf-8")) == ("|", "utf-8-sig")
    assert predict_cmd._dialect("-", _config(";", "latin-1")) == (";", "latin-1")
    assert predict_cmd._dialect("-", None) == (",", "utf-8-sig")
