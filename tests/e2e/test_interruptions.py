"""Killed, interrupted and concurrent `kfx run`s on one workspace, and disks that cannot be written.

Real `kfx run` processes and real signals on the 3,000-row span of the end-to-end tests (100 training steps). The
stages below go on in one workspace, each run taking up what the one before left (they cannot run on copies: the
workspace's path is a property of ServingBaseline and Pusher, which a copy would run again). A session fixture builds
each stage and keeps a snapshot of the workspace as the stage left it, which the stage's test inspects, so that each
test runs alone and in any order:
  kill -9 in Transform (a second run meanwhile is refused) -> kill -9 in Trainer (the dead run's lock is reported,
  its Transform cancelled, finished components reused) -> Ctrl-C in Evaluator (one line, exit 130) -> kill -9 in the
  middle of the Pusher's copy (no partial version) -> a plain run that pushes -> a read-only and a full disk, each
  with a copy of that workspace, which end in one line and leave the pushed version alone.
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import tmpfs
import yaml
from conftest import REPO, copy_workspace, runs_the_pipeline, serving_dir, tree_digest
from ml_metadata.proto import metadata_store_pb2

from monitoring import store as store_lib

pytestmark = pytest.mark.e2e

TRAIN_STEPS = "100"
# `kfx run`, except that the Pusher's copy hangs after its second file, once it has written the target's path to
# the file named first on its command line: a deterministic moment to kill it mid-copy.
HANGING_PUSH = """
import sys, time
from components.atomic_pusher import publish
marker, copied = sys.argv.pop(1), []
copy = publish.copy_file
def copy_then_hang(source, target):
    copy(source, target)
    copied.append(target)
    if len(copied) == 2:
        with open(marker, "w") as f:
            f.write(target)
        time.sleep(600)
publish.copy_file = copy_then_hang
from kfx.cli import main
sys.exit(main())
"""


class Run:
    """A `kfx run` subprocess whose output is collected as it comes."""

    def __init__(self, project, *args: str, prefix: tuple[str, ...] = ("-m", "kfx.cli")):
        self.project = project
        command = [sys.executable, *prefix, "run", "--config", project["config"], "--workspace", project["workspace"]]
        self.process = subprocess.Popen(
            [*command, "--train-steps", TRAIN_STEPS, *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stdout, self.stderr = [], []
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, chunks), daemon=True)
            for stream, chunks in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream, chunks):
        while chunk := stream.read(1):
            chunks.append(chunk)

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def wait_until(self, condition, what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"kfx run ended before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout}s:\n{self.output()}"
            time.sleep(0.2)

    def wait_for_executor(self, node: str) -> None:
        """Waits until `node`'s executor has run for a few seconds, as the run's log says."""
        self.wait_until(lambda: "log:" in "".join(self.stdout), "header")
        log_path = re.search(r"log:\s+(\S+)", "".join(self.stdout)).group(1)

        def executor_started():
            text = open(log_path).read() if os.path.exists(log_path) else ""
            return "Going to run a new execution" in text.partition(f"Component {node} is running.")[2]

        self.wait_until(executor_started, f"{node} executor")
        time.sleep(3)  # well inside the executor: its outputs are being written

    def finish(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def kill(self) -> None:
        """SIGKILL, if it still runs: nothing in the process gets to clean up."""
        if self.process.poll() is None:
            self.process.kill()
        self.finish()


@dataclasses.dataclass
class Stage:
    """A stage's run, finished (killed, interrupted or done), and the project as the stage left its workspace."""

    run: Run
    left: dict  # a snapshot of the workspace (the next stage goes on in the original) or, last, the original itself
    facts: dict = dataclasses.field(default_factory=dict)  # what was seen while the run was live


def _store(project):
    return store_lib.connect(os.path.join(project["workspace"], "metadata.sqlite"))


def _executions(project, node):
    """`node`'s executions, oldest first, as (id, state name)."""
    store = _store(project)
    return [
        (e.id, metadata_store_pb2.Execution.State.Name(e.last_known_state))
        for e in store.get_executions()
        if store_lib.node_id(store, e, project["pipeline"]) == node
    ]


def _latest_states(project):
    return store_lib.latest_run(_store(project), project["pipeline"]).states


def _outputs_of(project, node, execution_id):
    """The output folders TFX gives `node`'s execution: <pipeline root>/<node>/<output>/<execution id>/."""
    node_dir = os.path.join(project["workspace"], "pipeline_root", node)
    return [p for name in os.listdir(node_dir) if os.path.exists(p := os.path.join(node_dir, name, str(execution_id)))]


def _assert_killed_in(project, node):
    """The kill left `node`'s execution RUNNING with outputs on disk: what the next run must put right."""
    execution_id, state = _executions(project, node)[-1]
    assert state == "RUNNING" and _outputs_of(project, node, execution_id)
    return execution_id


def _assert_recovered(project, run, node, execution_id, killed_pid):
    assert f"Note: the last run here never finished (pid {killed_pid} on " in run.output()
    assert f"Note: {node} of run " in run.output()
    assert (execution_id, "CANCELED") in _executions(project, node)
    assert _outputs_of(project, node, execution_id) == []


@pytest.fixture(scope="session")
def project(e2e_project, tmp_path_factory):
    """The end-to-end tests' config and span 1, with a data folder and workspace of its own: the stages' workspace."""
    root = tmp_path_factory.mktemp("interruptions")
    shutil.copytree(e2e_project["data"] / "span-1", root / "data" / "span-1")
    with open(e2e_project["config"]) as f:
        raw = yaml.safe_load(f)
    raw["data"]["path"] = str(root / "data")
    (root / "config.yaml").write_text(yaml.safe_dump(raw))
    return {
        "root": root,
        "config": str(root / "config.yaml"),
        "workspace": str(root / "ws"),
        "pipeline": "chicago-taxi",
    }


def _snapshot(project, tmp_path_factory) -> dict:
    """The project with a copy of its workspace as it is now."""
    return copy_workspace(project, str(tmp_path_factory.mktemp("snapshot") / "ws"))


def _kill_in(project, node, while_running=lambda run: None) -> Run:
    """Starts `kfx run`, calls `while_running(run)` once `node`'s executor runs, then kills the run (SIGKILL)."""
    run = Run(project)
    try:
        run.wait_for_executor(node)
        while_running(run)
    finally:
        run.kill()
    return run


@pytest.fixture(scope="session")
@runs_the_pipeline
def killed_in_transform(project, tmp_path_factory) -> Stage:
    """A cold run killed in Transform; while it ran, a second run on the same workspace ("second", finished)."""
    second = []

    def start_a_second_run(run):
        second.append(Run(project))
        try:
            second[0].finish(timeout=120)
        finally:
            second[0].kill()

    run = _kill_in(project, "Transform", start_a_second_run)
    return Stage(run, _snapshot(project, tmp_path_factory), {"second": second[0]})


@pytest.fixture(scope="session")
@runs_the_pipeline
def killed_in_trainer(killed_in_transform, project, tmp_path_factory) -> Stage:
    """The next run, killed in Trainer."""
    return Stage(_kill_in(project, "Trainer"), _snapshot(project, tmp_path_factory))


@pytest.fixture(scope="session")
@runs_the_pipeline
def interrupted_in_evaluator(killed_in_trainer, project, tmp_path_factory) -> Stage:
    """The next run, sent SIGINT (Ctrl-C) in Evaluator: its exit code, how long it took to exit, what it printed."""
    run = Run(project)
    try:
        run.wait_for_executor("Evaluator")  # Beam running: it turns Ctrl-C into an error of its own, or swallows it
        stdout_before = len(run.stdout)
        run.process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = run.finish(timeout=120)
        facts = {"exit_code": code, "seconds": time.monotonic() - sent, "stdout": "".join(run.stdout[stdout_before:])}
    finally:
        run.kill()
    return Stage(run, _snapshot(project, tmp_path_factory), facts)


@pytest.fixture(scope="session")
@runs_the_pipeline
def killed_in_pushers_copy(interrupted_in_evaluator, project, tmp_path_factory) -> Stage:
    """The next run, killed once the Pusher copied two files of the model ("copying": the second file's path)."""
    marker = tmp_path_factory.mktemp("pusher") / "copying"
    run = Run(project, prefix=("-c", HANGING_PUSH, str(marker)))
    try:
        run.wait_until(lambda: marker.exists() and marker.read_text(), "the Pusher copying")
    finally:
        run.kill()
    return Stage(run, _snapshot(project, tmp_path_factory), {"copying": marker.read_text()})


@pytest.fixture(scope="session")
@runs_the_pipeline
def pushed_after_the_kills(killed_in_pushers_copy, project) -> Stage:
    """A plain run to its end; the last stage: tests that run again in its workspace copy it."""
    run = Run(project)
    try:
        run.finish()
    finally:
        run.kill()
    return Stage(run, project)


def test_kill_in_transform_while_a_second_run_is_refused(killed_in_transform):
    run, second = killed_in_transform.run, killed_in_transform.facts["second"]
    assert second.process.returncode == 1
    message = "".join(second.stderr)
    workspace, config = run.project["workspace"], run.project["config"]
    assert message.startswith(f"error: {workspace} is in use by another kfx run (pid {run.process.pid} ")
    assert "started " in message and f"kfx run --config {config}" in message
    assert len(message.strip().splitlines()) == 1 and "".join(second.stdout) == ""
    _assert_killed_in(killed_in_transform.left, "Transform")


def test_next_run_recovers_and_is_killed_in_trainer(killed_in_transform, killed_in_trainer):
    killed_transform = _assert_killed_in(killed_in_transform.left, "Transform")
    left = killed_in_trainer.left
    _assert_recovered(left, killed_in_trainer.run, "Transform", killed_transform, killed_in_transform.run.process.pid)
    states = _latest_states(left)
    assert {states[n] for n in ("WindowExampleGen", "StatisticsGen", "DataGate", "DriftGate")} == {"CACHED"}
    assert states["Transform"] == "COMPLETE"
    _assert_killed_in(left, "Trainer")


def test_ctrl_c_prints_one_line_exits_130_and_the_next_run_resumes(killed_in_trainer, interrupted_in_evaluator):
    killed_trainer = _assert_killed_in(killed_in_trainer.left, "Trainer")
    run, left, facts = interrupted_in_evaluator.run, interrupted_in_evaluator.left, interrupted_in_evaluator.facts
    _assert_recovered(left, run, "Trainer", killed_trainer, killed_in_trainer.run.process.pid)
    assert facts["exit_code"] == 130, run.output()
    # No Beam or TensorFlow thread keeps the process alive. (TFMA's Beam pipeline may swallow the interrupt and
    # finish the Evaluator first: the run then stops before the Pusher.)
    assert facts["seconds"] < 60
    assert facts["stdout"].strip() == ""  # at most the end of the progress line
    assert "".join(run.stderr).splitlines() == [
        "interrupted; completed components are recorded and will be reused by the next run"
    ]
    states = _latest_states(left)
    assert states["Trainer"] == "COMPLETE" and "Pusher" not in states, states


def test_kill_inside_the_pushers_copy_leaves_no_partial_version(killed_in_pushers_copy):
    left = killed_in_pushers_copy.left
    states = _latest_states(left)
    assert {states[n] for n in ("Transform", "Trainer")} == {"CACHED"}, states
    assert states["ServingBaseline"] == "COMPLETE", states  # the served folder is read in every run
    assert states["Evaluator"] == "COMPLETE" and states["Pusher"] == "RUNNING", states
    (staging,) = os.listdir(serving_dir(left))  # no version folder: TF Serving finds nothing to load
    where_it_ran = serving_dir(killed_in_pushers_copy.run.project)
    assert staging.startswith(".incomplete-")
    assert killed_in_pushers_copy.facts["copying"].startswith(os.path.join(where_it_ran, staging))


def test_plain_run_after_the_kill_pushes_a_complete_version(pushed_after_the_kills):
    run, left = pushed_after_the_kills.run, pushed_after_the_kills.left
    assert run.process.returncode == 0, run.output()
    states = _latest_states(left)
    assert states["Pusher"] == "COMPLETE" and states["Evaluator"] == "COMPLETE", states
    (version,) = os.listdir(serving_dir(left))  # the killed push's copy is gone
    assert version.isdigit() and f"Pushed:      version {version}" in run.output()
    assert os.path.isfile(os.path.join(serving_dir(left), version, "saved_model.pb"))
    assert "Note: Pusher of run " in run.output()
    assert "Traceback" not in run.output()


def test_lineage_names_the_commit_of_steps_done_by_runs_killed_later(pushed_after_the_kills):
    left = pushed_after_the_kills.left
    result = subprocess.run(
        [sys.executable, "-m", "kfx.cli", "lineage", "--workspace", left["workspace"], "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    steps = {step["node"]: step for step in json.loads(result.stdout)["steps"]}
    # Transform was completed by the run later killed in Trainer, Trainer by the one interrupted in Evaluator.
    final_run = steps["Pusher"]["run_id"]
    assert steps["Transform"]["run_id"] != final_run and steps["Trainer"]["run_id"] != final_run, steps
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert {step["commit"] for step in steps.values()} == {head}, steps
    assert {type(step["dirty"]) for step in steps.values()} == {bool}


def _assert_one_error_and_served_untouched(run, copy, served, expected):
    assert run.finish() == 1, run.output()
    assert "Traceback" not in run.output()
    error = "".join(run.stderr).splitlines()
    assert re.fullmatch(expected, error[0]), error
    assert all(line.startswith(("Full log: ", "Report: ")) for line in error[1:]), error
    assert tree_digest(serving_dir(copy)) == served


def test_a_file_where_the_workspace_should_be_is_one_line(project, tmp_path):
    in_the_way = tmp_path / "ws"
    in_the_way.write_text("not a folder")
    run = Run({**project, "workspace": str(in_the_way / "inner")})
    assert run.finish(timeout=120) == 1
    assert "".join(run.stderr) == (
        f"error: cannot write {in_the_way}: a file is in the way of a folder; move the file or choose another "
        "--workspace\n"
    )


def test_a_read_only_workspace_is_one_line_and_touches_nothing(pushed_after_the_kills, tmp_path):
    pushed = pushed_after_the_kills.left
    with tmpfs.mounted(str(tmp_path / "disk"), 512 * 2**20) as disk:
        copy, served = copy_workspace(pushed, os.path.join(disk, "ws")), tree_digest(serving_dir(pushed))
        tmpfs.make_read_only(disk)
        expected = f"error: cannot write {re.escape(copy['workspace'])}: the file system is read-only; .*"
        _assert_one_error_and_served_untouched(Run(copy), copy, served, expected)


def test_a_disk_that_fills_up_during_a_run_is_one_line_and_the_served_model_stays(pushed_after_the_kills, tmp_path):
    pushed = pushed_after_the_kills.left
    used = int(subprocess.run(["du", "-sb", pushed["workspace"]], capture_output=True, text=True).stdout.split()[0])
    with tmpfs.mounted(str(tmp_path / "disk"), used + 600 * 1024) as disk:  # about 1 MiB free once copied
        copy, served = copy_workspace(pushed, os.path.join(disk, "ws")), tree_digest(serving_dir(pushed))
        expected = r"error: \w+ failed: cannot write \S+: the disk is full \(.* MiB left on the disk of .*\); .*"
        _assert_one_error_and_served_untouched(Run(copy, "--no-cache"), copy, served, expected)
        (version,) = os.listdir(serving_dir(copy))
        load = "import sys, tensorflow as tf; print(sorted(tf.saved_model.load(sys.argv[1]).signatures))"
        loaded = subprocess.run(
            [sys.executable, "-c", load, os.path.join(serving_dir(copy), version)], capture_output=True, text=True
        )
        assert "serving_default" in loaded.stdout, loaded.stderr
