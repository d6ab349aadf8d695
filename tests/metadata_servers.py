"""Real MariaDB and PostgreSQL servers on loopback for the ML Metadata tests, started in a folder of their own.

Debian's packages (mariadb-server, postgresql-15) are used as installed, their service autostart aside: each server
runs from a data folder made here, listens on 127.0.0.1 on a free port, and has one user, `kfx`, with the password
PASSWORD and the right to create databases (each test makes its own). As root, PostgreSQL runs as the `postgres`
user (initdb refuses root); MariaDB runs with `--user=root`.

`.ci/run` starts both before the suite (`python3 tests/metadata_servers.py start DIR` prints the environment to
export: KFX_TEST_MYSQL, KFX_TEST_POSTGRESQL and KFX_TEST_METADATA_PASSWORD) and stops them after (`... stop DIR`);
tests use those when set, and otherwise start their own for the session (tests/conftest.py: `metadata_server`).
"""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

USER = "kfx"
PASSWORD = "kfx-test-password"
ENV = {"mysql": "KFX_TEST_MYSQL", "postgresql": "KFX_TEST_POSTGRESQL"}
PASSWORD_ENV = "KFX_TEST_METADATA_PASSWORD"
PG_BIN = "/usr/lib/postgresql/15/bin"
START_SECONDS = 60


class ServerUnavailable(RuntimeError):
    """The server cannot start here; the message says why (a skip reason)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(command: list[str], what: str, **kwargs) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_SECONDS, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ServerUnavailable(f"{what}: {error}") from None
    if done.returncode != 0:
        raise ServerUnavailable(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def _wait(check, what: str, log: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    with open(log, errors="replace") as f:
        raise ServerUnavailable(f"{what} did not start in {START_SECONDS} s: {f.read()[-500:]}")


def start_mariadb(folder: str) -> str:
    """Starts MariaDB with its data in `folder`; returns mysql://kfx@127.0.0.1:PORT (add /DATABASE)."""
    if not shutil.which("mariadb-install-db") or not os.path.exists("/usr/sbin/mariadbd"):
        raise ServerUnavailable("MariaDB is not installed (apt-get install mariadb-server)")
    data, sock, log = (os.path.join(folder, name) for name in ("data", "mysqld.sock", "mysqld.log"))
    os.makedirs(folder, exist_ok=True)
    root = ["--user=root"] if os.geteuid() == 0 else []
    _run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
          "--skip-test-db", *root], "mariadb-install-db")  # fmt: skip
    port = free_port()
    with open(log, "w") as out:
        server = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--pid-file={folder}/mysqld.pid", "--skip-log-bin", *root],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    client = ["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root"]
    _wait(lambda: server.poll() is None and os.path.exists(sock) and _ok([*client, "-e", "SELECT 1"]), "MariaDB", log)
    grants = (
        f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
        f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1'; FLUSH PRIVILEGES;"
    )
    _run([*client, "-e", grants], "creating the MariaDB user")
    return f"mysql://{USER}@127.0.0.1:{port}"


def start_postgresql(folder: str) -> str:
    """Starts PostgreSQL with its data in `folder`; returns postgresql://kfx@127.0.0.1:PORT (add /DATABASE)."""
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        raise ServerUnavailable(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb; apt-get install postgresql-15)")
    os.makedirs(folder, exist_ok=True)
    data, log, password_file = (os.path.join(folder, name) for name in ("data", "postgres.log", "password"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and there is no `postgres` user to run PostgreSQL") from None
        as_user = ["runuser", "-u", "postgres", "--"]
    with open(password_file, "w") as f:
        f.write(PASSWORD + "\n")
    if as_user:
        for path in (folder, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chmod(folder, 0o700)
    _run([*as_user, f"{PG_BIN}/initdb", "-D", data, "-U", USER, f"--pwfile={password_file}", "--auth=scram-sha-256",
          "--no-sync", "-E", "UTF8"], "initdb")  # fmt: skip
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    _run([*as_user, f"{PG_BIN}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", str(START_SECONDS),
          "start"], "pg_ctl start")  # fmt: skip
    return f"postgresql://{USER}@127.0.0.1:{port}"


def stop(folder: str) -> None:
    """Stops the servers started in `folder`/mariadb and `folder`/postgresql, if running."""
    pid_file = os.path.join(folder, "mariadb", "mysqld.pid")
    if os.path.exists(pid_file):
        with open(pid_file) as f:
            pid = int(f.read().strip() or 0)
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
    data = os.path.join(folder, "postgresql", "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, f"{PG_BIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)


def start(kind: str, folder: str) -> str:
    """Starts the `kind` server (mysql or postgresql) in `folder`; ServerUnavailable saying why it cannot."""
    return start_mariadb(folder) if kind == "mysql" else start_postgresql(folder)


def _ok(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


def main(argv: list[str]) -> int:
    """`start DIR`: starts both and prints `export` lines (a server that cannot start is a comment saying why);
    `stop DIR`: stops them."""
    action, folder = argv
    if action == "stop":
        stop(folder)
        return 0
    print(f"export {PASSWORD_ENV}={PASSWORD}")
    for kind, variable in ENV.items():
        try:
            print(f"export {variable}={start(kind, os.path.join(folder, 'mariadb' if kind == 'mysql' else kind))}")
        except ServerUnavailable as error:
            print(f"# {kind}: {' '.join(str(error).split())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
