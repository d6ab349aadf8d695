"""`kfx compare` as a user runs it, on a workspace whose ML Metadata holds hand-written runs (tests/mlmd_records.py):
the text, JSON equal to what the library reads, and bad input in one line with exit 2. Two really trained models are
compared in tests/e2e/test_compare_runs.py."""

import json

from conftest import run_kfx
from mlmd_records import Records, states_until

from monitoring import compare
from monitoring import store as store_lib

RUN_1, RUN_2 = "2026-12-01T10:00:00.000001", "2026-12-02T10:00:00.000001"


def _workspace(tmp_path) -> str:
    """RUN_1 pushed version 1700000001 (its model folder gone), RUN_2 stopped by the drift check."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    records = Records(str(workspace / "metadata.sqlite"), str(workspace / "serving_model"), str(workspace / "logs"))
    records.run(RUN_1, states_until("Pusher", "COMPLETE"), blessed=True, pushed_version="1700000001")
    records.run(RUN_2, states_until("DriftStop", "FAILED"), spans=(1, 2))
    return str(workspace)


def test_kfx_compare_prints_text_and_json(tmp_path):
    workspace = _workspace(tmp_path)
    result = run_kfx("compare", "2026-12-01", "2026-12-02", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"A  run {RUN_1}  started ")
    assert f"Metrics: not compared: run {RUN_1}: its model folder" in result.stdout
    assert "B  blocked (drift: DriftStop stopped the run); no blessing" in result.stdout
    result = run_kfx("compare", RUN_1, RUN_2, "--workspace", workspace, "--json")
    assert result.returncode == 0, result.stderr
    expected = compare.compare(store_lib.connect(f"{workspace}/metadata.sqlite"), f"{workspace}/logs", RUN_1, RUN_2)
    printed, read = json.loads(result.stdout), expected.to_dict()
    assert {**printed, "generated": ""} == json.loads(json.dumps({**read, "generated": ""}))


def test_kfx_compare_bad_input_is_one_line(tmp_path):
    workspace = _workspace(tmp_path)
    # The other mistakes: tests/monitoring/test_compare.py.
    result = run_kfx("compare", "2025", RUN_2, "--workspace", workspace)
    assert result.returncode == 2 and not result.stdout, result.stdout
    listed = f"`kfx runs` lists them; newest: {RUN_2}, {RUN_1}"
    assert (
        result.stderr == f"error: no run '2025' in this workspace ({listed}); a pushed version is written v:<version>\n"
    )
    result = run_kfx("compare", RUN_1, RUN_2, "--workspace", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and result.stderr.startswith("error: no ML Metadata at "), result.stderr
