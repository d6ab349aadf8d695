"""`kfx config schema` and `kfx config check`, through the real CLI."""

import json
import os
import subprocess
import sys

from conftest import REPO, run_kfx

from pipeline import config as config_lib


def test_schema_command_prints_the_schema_that_is_committed_for_editors():
    result = run_kfx("config", "schema")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == config_lib.json_schema()
    with open(os.path.join(REPO, "configs", "config.schema.json")) as f:
        assert result.stdout == f.read()
    with open(os.path.join(REPO, "configs", "chicago_taxi.yaml")) as f:
        assert f.readline() == "# yaml-language-server: $schema=config.schema.json\n"


def test_check_prints_the_resolved_paths(config_path):
    result = run_kfx("config", "check", "--config", config_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config_path}: valid\n")
    assert f"data.path      {os.path.join(REPO, 'data', 'chicago_taxi')} (latest 4 span(s))" in result.stdout
    assert "label          big_tipper = tips > 0.2 x fare" in result.stdout


def test_check_refuses_a_bad_file_or_a_path_that_does_not_exist(tmp_path, config_path):
    with open(config_path) as f:
        text = f.read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  dropout: 0.2", "  dropout: 1.0"))
    result = run_kfx("config", "check", "--config", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: {bad}: training.dropout must be in [0, 1), got 1.0\n"
    moved = tmp_path / "moved.yaml"  # relative paths now point next to tmp_path, where nothing is
    moved.write_text(text)
    result = run_kfx("config", "check", "--config", str(moved))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {moved}: data.path '{tmp_path.parent / 'data' / 'chicago_taxi'}' does")


def test_output_cut_short_by_the_reader_ends_quietly():
    """`kfx config schema | head -0`: the reader closes the pipe early; no BrokenPipeError traceback."""
    kfx = subprocess.Popen(
        [sys.executable, "-m", "kfx.cli", "config", "schema"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    kfx.stdout.close()  # gone before kfx, still importing, writes anything: its first write hits a closed pipe
    stderr = kfx.stderr.read().decode()
    assert kfx.wait(timeout=60) == 141
    assert stderr == ""
