"""A rerun with nothing changed is answered from ML Metadata without importing TensorFlow or TFX; a change of what a
run reads takes the normal path.

On the span 1 workspace (`e2e_span_1`: a cold run that pushed, then a rerun that evaluated against the pushed
model): a third run with the rerun's arguments repeats it. The answer writes a log and a copy of the rerun's summary
in the workspace's logs, nothing in ML Metadata, the artifacts or the serving folder. The changes are asked of
`reusable_run`, the check `kfx run` makes first, on the same real store: none of them runs a pipeline.
"""

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, RUN_TIMEOUT, printed_run_id, run_summary, serving_dir, tree_digest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from runners.local import run as local_run
from runners.local.workspace import Workspace

pytestmark = pytest.mark.e2e

# The arguments of e2e_span_1's rerun.
RERUN_ARGS = ("--train-steps", "100", "--span", "1")
# Runs `kfx run`, then prints which of TensorFlow, TFX and kubernetes it imported.
DRIVER = """
import sys
from kfx import cli
code = cli.main(sys.argv[1:])
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "tfx", "kubernetes", "apache_beam"})
print("imported:", ",".join(heavy) or "none")
sys.exit(code)
"""


def _run_ids(project) -> list[str]:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(project["workspace"], "metadata.sqlite")
    return sorted(c.name for c in metadata_store.MetadataStore(config).get_contexts_by_type("pipeline_run"))


def _options(project, **changes) -> local_run.RunOptions:
    options = local_run.RunOptions(
        config_path=project["config"],
        workspace=Workspace.under(project["workspace"]),
        span=1,
        train_steps=100,
    )
    return dataclasses.replace(options, **changes)


@pytest.fixture(scope="module")
def fast_rerun(e2e_project, e2e_span_1) -> dict:
    """The third run of the span 1 workspace, with the rerun's arguments, in a driver that reports its imports."""
    served = tree_digest(serving_dir(e2e_project))
    runs = _run_ids(e2e_project)
    command = ["run", "--config", e2e_project["config"], "--workspace", e2e_project["workspace"], *RERUN_ARGS]
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *command], cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    return {"result": result, "served_before": served, "runs_before": runs}


def test_a_rerun_with_nothing_changed_answers_from_metadata_without_tensorflow(e2e_project, e2e_span_1, fast_rerun):
    result = fast_rerun["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported: none" in result.stdout, result.stdout
    rerun_id = printed_run_id(e2e_span_1["rerun"])
    assert f"Nothing changed since run {rerun_id} of " in result.stdout
    assert printed_run_id(result) == rerun_id
    # The same summary lines as the run it repeats, and the same summary JSON beside its log.
    for line in e2e_span_1["rerun"].stdout[e2e_span_1["rerun"].stdout.index(f"Run {rerun_id}") :].splitlines():
        assert line in result.stdout.splitlines(), line
    assert run_summary(result) == run_summary(e2e_span_1["rerun"])
    # Nothing recorded, nothing pushed.
    assert _run_ids(e2e_project) == fast_rerun["runs_before"]
    assert tree_digest(serving_dir(e2e_project)) == fast_rerun["served_before"]


def test_every_change_of_what_a_run_reads_takes_the_normal_path(e2e_project, fast_rerun):
    assert fast_rerun["result"].returncode == 0
    assert local_run.reusable_run(_options(e2e_project)) is not None
    # --no-cache, a drift acceptance, other training steps, another span window
    assert local_run.reusable_run(_options(e2e_project, enable_cache=False)) is None
    assert local_run.reusable_run(_options(e2e_project, accept_drift="")) is None
    assert local_run.reusable_run(_options(e2e_project, train_steps=101)) is None

    # A changed value in the configuration file, then put back.
    with open(e2e_project["config"]) as f:
        text = f.read()
    raw = yaml.safe_load(text)
    raw["evaluation"]["thresholds"]["auc"] = 0.71
    try:
        with open(e2e_project["config"], "w") as f:
            yaml.safe_dump(raw, f)
        assert local_run.reusable_run(_options(e2e_project)) is None
    finally:
        with open(e2e_project["config"], "w") as f:
            f.write(text)

    # A touched data file (its contents unchanged), then put back as it was.
    data_file = e2e_project["data"] / "span-1" / "data.csv"
    stat = os.stat(data_file)
    try:
        os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert local_run.reusable_run(_options(e2e_project)) is None
    finally:
        os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert local_run.reusable_run(_options(e2e_project)) is not None

    # Another model served: a new version in the serving folder the Evaluator would compare with, then removed.
    (version,) = os.listdir(serving_dir(e2e_project))
    newer = os.path.join(serving_dir(e2e_project), str(int(version) + 1))
    try:
        shutil.copytree(os.path.join(serving_dir(e2e_project), version), newer)
        assert local_run.reusable_run(_options(e2e_project)) is None
    finally:
        shutil.rmtree(newer, ignore_errors=True)
    assert local_run.reusable_run(_options(e2e_project)) is not None
