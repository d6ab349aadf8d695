"""A rerun with nothing to do, answered from ML Metadata without importing TensorFlow or TFX.

Every run records `rerun_key` on its `pipeline_run` context: the sha256 of everything it reads that can change
between two runs: the configuration after the command line's overrides (and the schema file it names), the data
window and its files' fingerprint (path, size and modification time of each file: window.py, as WindowExampleGen),
the drift plan, the workspace's paths, the files of the serving folder (ServingBaseline compares with the served
model) and the code: the sha256 of the project's own source files, with the versions of TFX and the libraries that
run it. A hash of the sources, not the git commit: it also covers uncommitted edits, and costs a few milliseconds.

When the newest run of the pipeline in the store completed, its summary is in the workspace's logs and its key is
the key of this run, `kfx run` prints that run's results and stops: LocalDagRunner would reuse every component and
compare the same candidate with the same served model. Nothing is recorded in ML Metadata (`kfx runs` shows no
phantom run). The tuning decision needs no key: it follows from the configuration, the newest span and the store's
last search, and no run came between.
"""

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os

from monitoring import connection
from monitoring import store as store_lib
from monitoring import summary as summary_lib
from pipeline import config as config_lib
from pipeline import data as data_lib

RERUN_KEY = "rerun_key"
# The libraries whose versions change what a run computes.
LIBRARIES = (
    "tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis", "tensorflow-data-validation",
    "apache-beam", "ml-metadata",
)  # fmt: skip
# Node states of a run whose every node completed (CACHED: reused from an earlier run).
_DONE = {"COMPLETE", "CACHED"}
_SUMMARY_FIELDS = {field.name for field in dataclasses.fields(summary_lib.RunSummary)}
# Project folders that are not code a run executes.
_NOT_RUN = {"tests", "bench"}


@dataclasses.dataclass(frozen=True)
class Reused:
    """The completed run whose results answer this one: its id, start (local time) and summary (RunSummary's dict)."""

    run_id: str
    started: str
    summary: dict


def rerun_key(
    config: config_lib.PipelineConfig, source: data_lib.DataSource, serving_dir: str, workspace_paths: list[str],
    project: str,
) -> str:  # fmt: skip
    """The sha256 of what a run with this configuration, data and workspace reads (see the module's docstring)."""
    facts = {
        "config": dataclasses.asdict(config),
        "schema": _file_digest(config.data.schema) if config.data.schema else None,
        "data": [source.data_path, source.input_base, source.pattern, source.window.to_json()],
        "fingerprint": source.window.fingerprint(),
        "drift_plan": repr(source.drift_plan),
        "workspace": workspace_paths,
        "serving": _tree_stats(serving_dir),
        "code": code_digest(project),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def code_digest(project: str) -> str:
    """The sha256 of every file of the project's packages (tests and benchmarks aside) and of LIBRARIES' versions."""
    digest = hashlib.sha256()
    packages = sorted(
        name
        for name in os.listdir(project)
        if name not in _NOT_RUN and os.path.isfile(os.path.join(project, name, "__init__.py"))
    )
    for package in packages:
        for folder, folders, files in os.walk(os.path.join(project, package)):
            folders[:] = sorted(f for f in folders if f != "__pycache__")
            for name in sorted(files):
                path = os.path.join(folder, name)
                digest.update(f"{os.path.relpath(path, project)}:{_file_digest(path)}\n".encode())
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={importlib.metadata.version(library)}\n".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{library} absent\n".encode())
    return digest.hexdigest()


def find(metadata: str, pipeline_name: str, key: str, logs_dir: str) -> Reused | None:
    """The newest run of `pipeline_name` if it completed, recorded `key` and left its summary in `logs_dir`."""
    target = connection.parse(metadata)
    if not target.exists():
        return None
    store = store_lib.connect(target)
    runs = store_lib.pipeline_runs(store, pipeline_name)
    if not runs or store_lib.run_properties(store, runs[-1].name).get(RERUN_KEY) != key:
        return None
    record = store_lib.run_record(store, runs[-1], pipeline_name)
    if "Pusher" not in record.states or not set(record.states.values()) <= _DONE:
        return None
    summary = _summary(logs_dir, record.run_id)
    if summary is None:
        return None
    started = datetime.datetime.fromtimestamp(runs[-1].create_time_since_epoch / 1000).isoformat(" ", "seconds")
    return Reused(record.run_id, started, summary)


def _summary(logs_dir: str, run_id: str) -> dict | None:
    """The summary a run wrote next to its log (the newest, if answers to reruns copied it), or None."""
    for path in reversed(summary_lib.summary_files(logs_dir)):
        try:
            with open(path) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            continue
        # A summary of another format (written by another version of kfx) cannot be printed as this one's.
        if isinstance(summary, dict) and summary.get("run_id") == run_id and set(summary) <= _SUMMARY_FIELDS:
            return summary
    return None


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tree_stats(root: str) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every file under `root`: changes when a version is pushed or edited."""
    found = []
    for folder, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            stat = os.stat(path)
            found.append((os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns))
    return found
