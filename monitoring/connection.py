"""Where ML Metadata lives, from one option: every command and module that reads or writes it opens it here.

A target is a SQLite file (the default, `<workspace>/metadata.sqlite`), a database shared by a team
(`mysql://user@host[:port]/database`, MariaDB included, or `postgresql://user@host[:port]/database`), or
`grpc://host:port`, the ML Metadata service of Kubeflow Pipelines (read-only here). A database password never
appears on the command line: it comes from KFX_METADATA_PASSWORD or from the file KFX_METADATA_PASSWORD_FILE names.
"""

import contextlib
import dataclasses
import logging
import os
import re
import socket
import sys
import tempfile
import time
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a store is opened: `kfx` parses a target before it imports ML Metadata
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

PASSWORD_ENV = "KFX_METADATA_PASSWORD"
PASSWORD_FILE_ENV = "KFX_METADATA_PASSWORD_FILE"
GRPC_SCHEME = "grpc://"
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
DATABASE_SCHEMES = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgresql", "postgres": "postgresql"}
# Per call: a lineage walk is a few dozen small reads, so an address that does not answer fails in seconds.
GRPC_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0  # to a database server's port
CREATE_ATTEMPTS = 5  # over about 15 s
_CREATE_RACE = re.compile(r"concurrent|already exists|duplicate key|retry", re.IGNORECASE)
_HOST_PORT = re.compile(r"([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")
_URL = re.compile(r"([a-z]+)://(.*)")


class MetadataUnavailable(OSError):
    """ML Metadata cannot be reached or read, or its target is malformed; the message names it and the reason."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One ML Metadata store: `kind` is sqlite, mysql, postgresql or grpc."""

    kind: str
    path: str = ""  # sqlite: the file's absolute path
    host: str = ""
    port: int = 0
    user: str = ""
    database: str = ""

    def __str__(self) -> str:
        """The target as the user writes it (never with a password)."""
        if self.kind == "sqlite":
            return self.path
        if self.kind == "grpc":
            return f"{GRPC_SCHEME}{self.host}:{self.port}"
        return f"{self.kind}://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def is_file(self) -> bool:
        return self.kind == "sqlite"

    def exists(self) -> bool:
        """False only for a SQLite file not created yet (a server is asked when it is opened)."""
        return not self.is_file or os.path.isfile(self.path)

    def connection_config(self, writable: bool = False) -> "metadata_store_pb2.ConnectionConfig":
        """The ConnectionConfig ML Metadata and TFX's LocalDagRunner take (not for grpc://).

        Read-only opens a SQLite file read-only and never creates a missing database on a server (a misspelt name
        is then an error, not a new empty store).
        """
        from ml_metadata.proto import metadata_store_pb2

        config = metadata_store_pb2.ConnectionConfig()
        if self.kind == "sqlite":
            config.sqlite.filename_uri = self.path
            modes = metadata_store_pb2.SqliteMetadataSourceConfig
            config.sqlite.connection_mode = modes.READWRITE_OPENCREATE if writable else modes.READONLY
        elif self.kind == "mysql":
            config.mysql.host, config.mysql.port, config.mysql.user = self.host, self.port, self.user
            config.mysql.database = self.database
            config.mysql.password = password()
            config.mysql.skip_db_creation = not writable
        elif self.kind == "postgresql":
            config.postgresql.host, config.postgresql.port = self.host, str(self.port)
            config.postgresql.user, config.postgresql.dbname = self.user, self.database
            config.postgresql.password = password()
            config.postgresql.skip_db_creation = not writable
        else:
            raise MetadataUnavailable(f"{self} is Kubeflow Pipelines' ML Metadata service: it is only read from here")
        return config


def parse(text: str) -> Target:
    """`text` (a path, mysql://, postgresql:// or grpc:// URL) as a Target; MetadataUnavailable naming the fix."""
    url = _URL.fullmatch(text.strip())
    if url is None:
        return Target("sqlite", path=os.path.abspath(text))
    scheme, rest = url.groups()
    if scheme == "grpc":
        host, port = grpc_address(rest)
        return Target("grpc", host=host, port=port)
    if scheme not in DATABASE_SCHEMES:
        raise MetadataUnavailable(
            f"bad ML Metadata target '{text}': expected a SQLite file path, mysql://USER@HOST[:PORT]/DATABASE, "
            "postgresql://USER@HOST[:PORT]/DATABASE or grpc://HOST:PORT"
        )
    kind = DATABASE_SCHEMES[scheme]
    parts = urllib.parse.urlsplit(f"{kind}://{rest}")
    example = f"{kind}://USER@HOST[:PORT]/DATABASE"
    if parts.password is not None:
        raise MetadataUnavailable(
            f"bad ML Metadata target {kind}://{parts.username}:***@{parts.hostname}...: a password does not go in "
            f"the URL (shell history, process list); put it in {PASSWORD_ENV} or in a file named by "
            f"{PASSWORD_FILE_ENV}"
        )
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        port = 0
    database = parts.path.strip("/")
    if not (parts.username and parts.hostname and port and database) or "/" in database or parts.query:
        raise MetadataUnavailable(f"bad ML Metadata target '{text}': expected {example}")
    user = urllib.parse.unquote(parts.username)
    return Target(kind, host=parts.hostname, port=port, user=user, database=database)


def grpc_address(address: str) -> tuple[str, int]:
    """`host:port` -> (host, port); MetadataUnavailable naming the expected form otherwise."""
    match = _HOST_PORT.fullmatch(address.strip())
    if not match or not 0 < int(match.group(2)) < 65536:
        raise MetadataUnavailable(
            f"bad ML Metadata address '{address}': expected HOST:PORT, e.g. metadata-grpc-service.kubeflow:8080"
        )
    return match.group(1), int(match.group(2))  # gRPC keeps an IPv6 host in brackets


def password() -> str:
    """The database password: the file KFX_METADATA_PASSWORD_FILE names (its first line), else
    KFX_METADATA_PASSWORD, else none."""
    path = os.environ.get(PASSWORD_FILE_ENV)
    if path:
        try:
            with open(path) as f:
                return f.readline().rstrip("\r\n")
        except OSError as error:
            raise MetadataUnavailable(
                f"cannot read the ML Metadata password file {path} ({PASSWORD_FILE_ENV}): {error.strerror}"
            ) from None
    return os.environ.get(PASSWORD_ENV, "")


def open_store(target: Target | str, writable: bool = False) -> "metadata_store.MetadataStore":
    """Opens ML Metadata: read-only unless `writable` (which creates a missing SQLite file or database).

    MetadataUnavailable, one line naming the target and the reason, when it cannot be opened or read: a missing
    file, a server that does not answer, a wrong password, an unknown database.
    """
    from ml_metadata import errors, metadata_store
    from ml_metadata.proto import metadata_store_pb2

    target = parse(target) if isinstance(target, str) else target
    if target.kind == "grpc":
        if writable:
            target.connection_config(writable)  # raises: the service is read-only here
        config = metadata_store_pb2.MetadataStoreClientConfig(
            host=target.host, port=target.port, client_timeout_sec=GRPC_TIMEOUT_SECONDS
        )
    else:
        if not writable and not target.exists():
            raise MetadataUnavailable(f"no ML Metadata at {target}: run `kfx run` first, or pass its --workspace")
        config = target.connection_config(writable)
    if target.kind in DEFAULT_PORTS:
        _reachable(target)
    for attempt in range(CREATE_ATTEMPTS):
        with _native_log() as native_log:
            try:
                store = metadata_store.MetadataStore(config)
                store.get_context_types()  # a gRPC client connects lazily: ask once so a wrong address fails here
                if writable and target.kind == "postgresql":
                    _index_string_prefixes(target)
                return store
            except (errors.StatusError, RuntimeError) as error:  # a database's refusal comes as a RuntimeError
                reason = describe(error)
        # Two runs creating one new database at once: ML Metadata asks to retry once the other one is done.
        if not (writable and _CREATE_RACE.search(reason)) or attempt == CREATE_ATTEMPTS - 1:
            break
        time.sleep(0.5 * 2**attempt)
    raise MetadataUnavailable(f"cannot open ML Metadata at {target}: {_explain(target, reason, native_log)}")


def _index_string_prefixes(target: Target) -> None:
    """Rebuilds ML Metadata 1.16's PostgreSQL indexes of property strings on their first 255 characters, as its
    MySQL schema has them: indexed whole, a string longer than about 2.7 KB (a TFX component's configuration, such
    as DistributionValidator's) cannot be written at all. Done once per database; concurrent runs wait on a lock."""
    import pg8000.native

    try:
        database = pg8000.native.Connection(
            target.user, host=target.host, port=target.port, database=target.database,
            password=password() or None, timeout=CONNECT_TIMEOUT_SECONDS,
        )  # fmt: skip
    except (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError) as error:
        raise MetadataUnavailable(f"cannot open ML Metadata at {target}: {error}") from None
    try:
        for table in ("artifactproperty", "executionproperty", "contextproperty"):
            index = f"idx_{table.removesuffix('property')}_property_string"
            definition = database.run("SELECT indexdef FROM pg_indexes WHERE indexname = :index", index=index)
            if definition and "255" in definition[0][0]:
                continue
            database.run("BEGIN")
            database.run("SELECT pg_advisory_xact_lock(20260517)")
            database.run(f"DROP INDEX IF EXISTS {index}")
            database.run(f"CREATE INDEX {index} ON {table} (name, is_custom_property, left(string_value, 255))")
            database.run("COMMIT")
    except pg8000.native.DatabaseError as error:
        raise MetadataUnavailable(f"cannot prepare ML Metadata at {target} for long strings: {error}") from None
    finally:
        database.close()


def _reachable(target: Target, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """MetadataUnavailable at once when nothing answers at the server's address (the database client would wait
    for long, and then say little)."""
    try:
        socket.create_connection((target.host, target.port), timeout=timeout_seconds).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise MetadataUnavailable(
            f"cannot open ML Metadata at {target}: no {target.kind} server answers at {target.host}:{target.port} "
            f"({reason})"
        ) from None


@contextlib.contextmanager
def _native_log():
    """Captures what ML Metadata's C++ code writes to stderr (its database errors are there, several lines of
    them) while a store is opened; yields a list that holds those lines afterwards."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines += captured.read().decode(errors="replace").splitlines()


def _explain(target: Target, reason: str, native_log: list[str]) -> str:
    """The most telling words on why a store did not open: the database's own message when it gave one."""
    for line in native_log:
        if "PostgreSQL error:" in line:
            return " ".join(line.split("PostgreSQL error:", 1)[1].split())
    if target.kind == "mysql" and reason.rstrip(": ").endswith("error"):  # MLMD's empty "errno: , error: "
        return (
            f"the server at {target.host}:{target.port} refused the connection of user '{target.user}': check the "
            f"password ({PASSWORD_ENV} or {PASSWORD_FILE_ENV}) and that the user may connect from this host"
        )
    return reason


def describe(error: Exception) -> str:
    """An MLMD, database or gRPC error as one line, never with the password."""
    text = " ".join(str(error).split()) or type(error).__name__
    try:
        secret = password()
    except MetadataUnavailable:
        secret = ""
    return text.replace(secret, "***") if secret else text


class HidePassword(logging.Filter):
    """Replaces the database password in log records (TFX's LocalDagRunner logs its connection config) with ***."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "***"), None
        return True
