"""`kfx rollout` as a user (or cron) runs it, and `kfx run`'s rollout.on_push switch on the version a run pushed."""

# ruff: noqa: F811 - the fixtures come from rollout_env (a conftest.py here would shadow tests/conftest.py)

import dataclasses
import io
import json
import os

from conftest import run_kfx
from rollout_env import context, routing, toy_versions, version_labels, with_rules  # noqa: F401

from kfx import rollout_cmd
from pipeline import config as config_lib
from runners.local.workspace import Workspace


def test_start_status_step_abort_from_the_command_line(context):
    workspace = os.path.dirname(context.target.serving_dir)
    common = ["--model", "toy", "--workspace", workspace, "--grpc-address", context.target.grpc_address,
              "--rest-address", context.rest_address]  # fmt: skip
    result = run_kfx("rollout", "start", "2", "--canary", "10%", "--reason", "span 5", *common)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["toy: start version 2", "  why: canary at 10%: span 5"]
    assert routing(context)["canary_weight"] == 0.1 and version_labels(context) == {"stable": 1, "canary": 2}

    result = run_kfx("rollout", "status", "--json", *common)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["rollout"]["candidate"] == 2 and found["decision"]["action"] == "wait"
    assert [c["status"] for c in found["decision"]["checks"]] == ["ok", "wait", "wait", "wait"]

    result = run_kfx("rollout", "step", *common)  # no server, no outcomes: waits, changes nothing, exit 0
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("toy: wait: version 2 stays in rollout, nothing changed\n")
    assert "errors   wait     errors unknown: cannot read http://" in result.stdout

    result = run_kfx("rollout", "start", "9", "--shadow", *common)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: version 9 of 'toy' is not pushed")

    result = run_kfx("rollout", "abort", "--reason", "trying it", *common)
    assert result.returncode == 0 and "why: aborted by hand: trying it" in result.stdout, result.stderr
    result = run_kfx("rollout", "step", *common)
    assert (
        result.returncode == 0
        and result.stdout == "toy: nothing in rollout for 'toy' (no canary or shadow label); nothing to do\n"
    )


def _on_push(context, mode: str, version: str | None) -> tuple[int, str]:
    config = config_lib.load(config_lib.__file__.replace("pipeline/config.py", "configs/chicago_taxi.yaml"))
    rules = dataclasses.replace(with_rules(context, on_push=mode).rules, grpc_address=context.target.grpc_address)
    config = dataclasses.replace(config, serving=dataclasses.replace(config.serving, model_name="toy"), rollout=rules)
    root = os.path.dirname(context.target.serving_dir)
    workspace = Workspace.under(root, metadata=context.metadata, serving_dir=context.target.serving_dir)
    console = io.StringIO()
    return rollout_cmd.after_push(config, workspace, version, console), console.getvalue()


def test_on_push_none_leaves_the_labels_alone(context):
    before = open(context.target.config_path).read()
    assert _on_push(context, "none", "2") == (0, "")
    assert open(context.target.config_path).read() == before and routing(context) is None


def test_on_push_canary_starts_a_rollout_of_the_pushed_version_and_a_first_version_becomes_stable(context):
    os.remove(context.target.config_path)
    os.remove(context.target.config_path + ".history.json")
    code, printed = _on_push(context, "canary", "1")
    assert code == 0 and version_labels(context) == {"stable": 1}, printed
    assert "why: first pushed version: no stable version to compare a rollout with" in printed

    code, printed = _on_push(context, "shadow", "2")
    assert code == 0 and version_labels(context) == {"stable": 1, "shadow": 2}, printed
    assert "why: shadow at 100%: pushed by kfx run (rollout.on_push)" in printed

    code, printed = _on_push(context, "shadow", "3")  # a rollout in progress: the new version waits its turn
    assert code == 0 and version_labels(context) == {"stable": 1, "shadow": 2}
    assert printed.startswith("rollout.on_push: version 3 left alone: version 2 is already in shadow since ")
    assert _on_push(context, "canary", None) == (0, "")  # the run pushed nothing
