"""monitoring/connection.py: one --metadata target for every reader and writer of ML Metadata, on a real MariaDB and
PostgreSQL (tests/metadata_servers.py) as well as SQLite; no pipeline runs here (tests/e2e/test_shared_metadata.py)."""

import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import REPO, database_url
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.portable.mlmd import execution_lib
from tfx.proto.orchestration import execution_result_pb2

from monitoring import connection, store
from runners.local import launch, recovery

DATABASES = ("mysql", "postgresql")


def _kfx(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kfx.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mysql://kfx@db.example/mlmd", "mysql://kfx@db.example:3306/mlmd"),
        ("mariadb://kfx@db.example:3307/mlmd", "mysql://kfx@db.example:3307/mlmd"),
        ("postgresql://team@10.0.0.5/runs", "postgresql://team@10.0.0.5:5432/runs"),
        ("postgres://team@pg:6543/runs", "postgresql://team@pg:6543/runs"),
        ("grpc://metadata-grpc-service.kubeflow:8080", "grpc://metadata-grpc-service.kubeflow:8080"),
    ],
)
def test_a_database_or_service_url_is_parsed_and_shown_without_a_password(text, expected):
    assert str(connection.parse(text)) == expected


def test_a_path_is_an_absolute_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = connection.parse("ws/metadata.sqlite")
    assert target.is_file and target.path == str(tmp_path / "ws" / "metadata.sqlite") and not target.exists()


@pytest.mark.parametrize("text", ["mysql://db.example/mlmd", "mysql://kfx@db.example", "postgresql://kfx@h:x/db",
                                  "mysql://kfx@h/db?ssl=1", "ftp://kfx@h/db", "grpc://no-port"])  # fmt: skip
def test_a_malformed_target_names_the_expected_form(text):
    with pytest.raises(connection.MetadataUnavailable, match="expected"):
        connection.parse(text)


def test_a_password_in_the_url_is_refused_saying_where_it_goes_without_repeating_it():
    result = _kfx("runs", "--metadata", "mysql://kfx:hunter2@db.example/mlmd")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "KFX_METADATA_PASSWORD" in line and "KFX_METADATA_PASSWORD_FILE" in line and "hunter2" not in line


def test_the_password_file_wins_over_the_variable_and_an_unreadable_one_is_named(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    monkeypatch.setenv(connection.PASSWORD_ENV, "from-env")
    assert connection.password() == "from-env"
    monkeypatch.setenv(connection.PASSWORD_FILE_ENV, str(secret))
    assert connection.password() == "from-file"
    monkeypatch.setenv(connection.PASSWORD_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(connection.MetadataUnavailable, match="missing .KFX_METADATA_PASSWORD_FILE."):
        connection.password()


def test_the_password_never_reaches_the_run_log():
    record = logging.LogRecord(
        "tfx", logging.INFO, __file__, 1, "Using connection config:\n %s", ("password: s3",), None
    )
    assert (
        connection.HidePassword("s3").filter(record)
        and record.getMessage() == "Using connection config:\n password: ***"
    )


@pytest.mark.parametrize("kind", DATABASES)
def test_a_run_recorded_by_one_process_is_read_by_another(metadata_servers, kind):
    url = database_url(metadata_servers, kind)
    with pytest.raises(connection.MetadataUnavailable, match="does not exist|Unknown database"):
        store.connect(url)  # read-only never creates the database a misspelt name would
    store.record_run(url, "team-pipeline", "2026-01-01T00:00:00.000001", {"git_commit": "abc"})
    result = _kfx("runs", "--metadata", url, "--workspace", "/nonexistent", "--json")
    assert result.returncode == 0, result.stderr
    assert [run["run_id"] for run in json.loads(result.stdout)] == ["2026-01-01T00:00:00.000001"]


@pytest.mark.parametrize("kind", DATABASES)
def test_a_wrong_password_or_an_unreachable_server_is_one_line_and_exit_2(metadata_servers, kind, tmp_path):
    url = database_url(metadata_servers, kind)
    connection.open_store(url, writable=True)
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    env = {**os.environ, connection.PASSWORD_FILE_ENV: str(wrong)}
    for command in ("run", "runs", "models", "lineage"):
        result = _kfx(command, "--metadata", url, env=env)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: cannot open ML Metadata at {url}") and "not-the-password" not in line
    unreachable = url.replace(url.split("@")[1].split("/")[0], "127.0.0.1:1")
    result = _kfx("runs", "--metadata", unreachable)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"error: cannot open ML Metadata at {unreachable}: no {kind} server answers at 127.0.0.1:1 (Connection refused)"
    ]


def _running_execution(target: str, run_id: str, pipeline_root: str) -> int:
    """A RUNNING execution in run `run_id` of a workspace whose artifacts go to `pipeline_root`."""
    store.record_run(target, "team-pipeline", run_id, {store.PIPELINE_ROOT: pipeline_root})
    writable = connection.open_store(target, writable=True)
    type_id = writable.put_execution_type(metadata_store_pb2.ExecutionType(name="Trainer"))
    execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=metadata_store_pb2.Execution.RUNNING)
    run = writable.get_context_by_type_and_name(store.RUN_CONTEXT, run_id)
    execution_id, _, _ = writable.put_execution(execution, [], [run])
    return execution_id


@pytest.mark.parametrize("kind", DATABASES)
def test_recovery_leaves_the_live_runs_of_another_workspace_sharing_the_store_alone(metadata_servers, kind, tmp_path):
    url = database_url(metadata_servers, kind)
    ours = _running_execution(url, "2026-01-01T00:00:00.000001", str(tmp_path / "a" / "pipeline_root"))
    theirs = _running_execution(url, "2026-01-01T00:00:00.000002", str(tmp_path / "b" / "pipeline_root"))
    found = recovery.recover(url, str(tmp_path / "a" / "pipeline_root"))
    assert [interrupted.execution_id for interrupted in found] == [ours]
    states = {e.id: e.last_known_state for e in connection.open_store(url).get_executions()}
    assert states == {ours: metadata_store_pb2.Execution.CANCELED, theirs: metadata_store_pb2.Execution.RUNNING}


def test_grpc_is_read_only():
    with pytest.raises(connection.MetadataUnavailable, match="only read"):
        connection.open_store("grpc://127.0.0.1:1", writable=True)


@pytest.mark.parametrize("kind", DATABASES)
def test_a_property_longer_than_a_postgresql_index_row_can_be_written(metadata_servers, kind):
    url = database_url(metadata_servers, kind)
    writable = connection.open_store(url, writable=True)  # PostgreSQL: the string indexes rebuilt on a prefix
    type_id = writable.put_execution_type(metadata_store_pb2.ExecutionType(name="DistributionValidator"))
    execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    execution.custom_properties["config"].string_value = "x" * 20_000  # as TFX's component configurations can be
    [execution_id] = writable.put_executions([execution])
    [stored] = connection.open_store(url).get_executions_by_id([execution_id])
    assert len(stored.custom_properties["config"].string_value) == 20_000


def test_a_failed_components_error_can_be_recorded_in_postgresql(metadata_servers):
    url = database_url(metadata_servers, "postgresql")
    writable = connection.open_store(url, writable=True)
    type_id = writable.put_execution_type(metadata_store_pb2.ExecutionType(name="ServingBaseline"))
    execution = metadata_store_pb2.Execution(type_id=type_id, last_known_state=metadata_store_pb2.Execution.FAILED)
    message = 'Traceback:\n  File "executor.py", line 3\nOSError: C:\\models não existe'
    with launch.storable_results():
        execution_lib.set_execution_result(
            execution_result_pb2.ExecutionResult(code=2, result_message=message), execution
        )
    [execution_id] = writable.put_executions([execution])  # ML Metadata 1.16 fails on a backslash in PostgreSQL
    [stored] = connection.open_store(url).get_executions_by_id([execution_id])
    recorded = execution_lib.get_execution_result(stored)
    assert (
        recorded.code == 2
        and recorded.result_message == "Traceback:   File 'executor.py', line 3 OSError: C:/models não existe"
    )
