"""profiling/sample.py: a bounded sample, spread over the files, read with the detected dialect."""

import os

import pytest

from pipeline.data import DataError
from profiling import sample as sample_lib


def test_a_semicolon_file_with_na_tokens_and_quoted_commas_reads_as_its_columns(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('id;"Sex (M/F)";note;income\n1;M;"one, two; three";NA\n2;F;plain;\n3;F;"x";41000.5\n')
    sample = sample_lib.read(str(path))
    assert sample.dialect.delimiter == ";" and "delimiter" in sample.dialect.detected_fields
    assert sample.columns == ["id", "Sex (M/F)", "note", "income"]
    assert sample.frame["note"].tolist() == ["one, two; three", "plain", "x"]
    assert sample.frame["income"].isna().tolist() == [True, True, False]  # "NA" and "" are missing tokens
    assert sample.frame["income"].iloc[2] == "41000.5"  # text, exactly as in the file
    assert sample.total_rows == 3 and sample.spans == 0


def test_the_sample_is_bounded_and_spread_over_span_folders(tmp_path):
    for span, rows in ((1, 50), (2, 30), (10, 5)):
        folder = tmp_path / f"span-{span}"
        folder.mkdir()
        (folder / "data.csv").write_text("a,b\n" + "".join(f"{span},{i}\n" for i in range(rows)))
    sample = sample_lib.read(str(tmp_path), max_rows=30)
    assert sample.spans == 3
    assert [f.split("/")[-2] for f in sample.files] == ["span-1", "span-2", "span-10"]  # by number, not text
    assert sample.frame["a"].value_counts().to_dict() == {"1": 10, "2": 10, "10": 5}  # 10 rows at most per file
    assert sample.total_rows == 85  # files read only in part are counted
    assert sample.scale == pytest.approx(85 / 25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3\n4,5,6\n", "is all numbers (1, 2, 3...), not a header; add a header row"),
        ("a,b,a\n1,2,3\n", "repeats column(s) ['a'] in its header"),
        ("a,,c\n1,2,3\n", "has a column without a name (column 2)"),
        ("a,b\n", "has a header but no data rows"),
        ("a,b\n1,2\n1,2,3,4\n", "cannot be read as CSV (','-separated)"),
    ],
)
def test_a_file_that_cannot_be_profiled_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        sample_lib.read(str(path))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_folder_without_csv_files_or_another_kind_of_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="holds no .csv files"):
        sample_lib.read(str(tmp_path))
    (tmp_path / "data.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(DataError, match=r"data.tsv' is not a .csv file; the run reads only .csv files$"):
        sample_lib.read(str(tmp_path / "data.tsv"))


def test_a_span_folder_without_a_number_is_not_a_span(tmp_path):
    for folder in ("span-2", "span-10", "span-old"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "data.csv").write_text("a,b\n1,2\n")
    files, spans = sample_lib.data_files(str(tmp_path))
    assert spans == 2 and [os.path.basename(os.path.dirname(f)) for f in files] == ["span-2", "span-10"]
