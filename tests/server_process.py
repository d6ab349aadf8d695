"""Starts a model server as its own process on free loopback ports, as a user would, and stops it with SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`command` + `--port`/`--rest_api_port`; `start()` waits until every model in `ready_models` is AVAILABLE."""

    def __init__(self, command: list[str], log_path: str, ready_models: tuple[str, ...] = (), env: dict | None = None):
        self.grpc_port, self.rest_port = free_port(), free_port()
        self.command = [*command, f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}"]
        self.log_path = log_path
        self.ready_models = ready_models
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest(self) -> str:
        return f"127.0.0.1:{self.rest_port}"

    def start(self, timeout: float = 120) -> "ServerProcess":
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + timeout
        waiting = set(self.ready_models)
        while waiting:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready (exit {self.process.poll()}):\n{self.output()}")
            for model in list(waiting):
                try:
                    with urllib.request.urlopen(f"http://{self.rest}/v1/models/{model}", timeout=2) as reply:
                        if b'"AVAILABLE"' in reply.read():
                            waiting.discard(model)
                except OSError:
                    pass
            time.sleep(0.3)
        return self

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_for_output(self, text: str, timeout: float = 30) -> str:
        """The output once it contains `text` (lines printed after readiness may lag a little)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not printed:\n{self.output()}"
            time.sleep(0.2)
        return self.output()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a Kubernetes rollout sends; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()


def builtin_server(*flags: str, log_path: str, ready_models: tuple[str, ...] = ()) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "serving", "--server=builtin", *flags], log_path, ready_models)
