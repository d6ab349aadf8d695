"""Which folders are versions: integer-named child folders holding saved_model.pb or saved_model.pbtxt."""

from serving import versions


def _folder(base, name, *files):
    path = base / name
    (path / "variables").mkdir(parents=True)
    (path / "variables" / "variables.index").write_text("weights")
    for file_name in files:
        (path / file_name).write_text(f"model {name}")
    return path


def test_complete_versions_are_integer_folders_holding_a_saved_model(tmp_path):
    _folder(tmp_path, "100", "saved_model.pb")
    _folder(tmp_path, "300", "saved_model.pbtxt")
    _folder(tmp_path, "900")  # still being copied: no saved_model.pb yet
    _folder(tmp_path, "tmp-400", "saved_model.pb")
    _folder(tmp_path, ".incomplete-500", "saved_model.pb")  # the Pusher's staging folder
    _folder(tmp_path, "\u00b2", "saved_model.pb")  # "²" is a digit to str.isdigit, not to int()
    (tmp_path / "700").mkdir()
    (tmp_path / "800").write_text("a file, not a folder")
    assert versions.complete_versions(str(tmp_path)) == {100: str(tmp_path / "100"), 300: str(tmp_path / "300")}
    assert versions.latest_complete_version(str(tmp_path)) == (300, str(tmp_path / "300"))
    assert versions.latest_complete_version(f"{tmp_path}/") == (300, str(tmp_path / "300"))


def test_no_complete_version(tmp_path):
    _folder(tmp_path, "900")
    assert versions.complete_versions(str(tmp_path)) == {}
    assert versions.latest_complete_version(str(tmp_path)) is None
    assert versions.latest_complete_version(str(tmp_path / "absent")) is None
