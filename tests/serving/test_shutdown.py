"""SIGTERM with 16 clients in flight over REST and gRPC, on a real server: every request the server received is
answered in full (none CANCELLED, no cut body), the ones sent afterwards are refused before they reach it
(connection refused), and the process exits 0 within --drain_seconds plus a second. Past the deadline, the requests
still running are answered UNAVAILABLE (REST 503), and the server's last line counts them.
"""

import http.client
import json
import signal
import socket
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from server_process import builtin_server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from toy_model import save_toy_model

CLIENTS = 16
FAST = {"x": [1.0], "name": ["fast"]}  # serving_default: y = 2x + 1 = 3
NOT_RECEIVED = ("ConnectionRefusedError", "failed to connect to all addresses")


class Outcomes:
    """What each request got, split by whether it was sent before SIGTERM."""

    def __init__(self) -> None:
        self.sigterm_at: float | None = None
        self.before: list[str] = []
        self.after: list[str] = []
        self.in_flight_at_sigterm = 0
        self._lock = threading.Lock()

    def add(self, sent: float, outcome: str) -> None:
        with self._lock:
            sigterm = self.sigterm_at
            (self.after if sigterm is not None and sent > sigterm else self.before).append(outcome)
            self.in_flight_at_sigterm += sigterm is not None and sent < sigterm


def _rest_client(address: str, spins: int, outcomes: Outcomes, stop: threading.Event) -> None:
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)  # reopens after a `Connection: close`
    body = json.dumps({"signature_name": "slow", "instances": [spins]} if spins else {"inputs": FAST}).encode()
    expected = {"predictions": [spins]} if spins else {"outputs": {"y": [3.0], "greeting": ["hello fast"],
                                                                   "name_bytes": [{"b64": "ZmFzdA=="}]}}  # fmt: skip
    while not stop.is_set():
        sent = time.monotonic()
        try:
            connection.request("POST", "/v1/models/toy:predict", body=body)
            reply = connection.getresponse()
            data = reply.read()
            outcome = "OK" if reply.status == 200 and json.loads(data) == expected else f"{reply.status} {data[:99]!r}"
        except (OSError, http.client.HTTPException, ValueError) as error:
            outcome = f"{type(error).__name__}: {error}"
            connection.close()
            time.sleep(0.05)
        outcomes.add(sent, outcome)


def _grpc_client(address: str, spins: int, outcomes: Outcomes, stop: threading.Event) -> None:
    channel = grpc.insecure_channel(address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    inputs = {"spins": np.array([spins], np.int64)} if spins else {k: np.array(v) for k, v in FAST.items()}
    request.model_spec.signature_name = "slow" if spins else ""
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value.astype(np.float32) if name == "x" else value))
    while not stop.is_set():
        sent = time.monotonic()
        try:
            stub.Predict(request, timeout=60)
            outcome = "OK"
        except grpc.RpcError as error:
            outcome = f"{error.code().name}: {error.details()}"
            time.sleep(0.05)
        outcomes.add(sent, outcome)
    channel.close()


def _load(server, spins: tuple[int, int]) -> tuple[Outcomes, threading.Event, list[threading.Thread]]:
    """16 clients: REST and gRPC, half of each sending fast requests, half `slow` ones of spins[0] or spins[1]."""
    outcomes, stop = Outcomes(), threading.Event()
    threads = []
    for index in range(CLIENTS):
        protocol, kind = index % 2, index // 2 % 2
        client = _rest_client if protocol else _grpc_client
        address = server.rest if protocol else server.grpc
        threads.append(threading.Thread(target=client, args=(address, spins[kind], outcomes, stop)))
    for thread in threads:
        thread.start()
    return outcomes, stop, threads


def _sigterm_and_wait(server, outcomes: Outcomes) -> float:
    outcomes.sigterm_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    took = time.monotonic() - outcomes.sigterm_at
    assert code == 0, server.output()
    return took


def _start(tmp_path, *flags: str):
    save_toy_model(str(tmp_path / "toy" / "1"))
    return builtin_server(f"--model_base_path={tmp_path / 'toy'}", "--model_name=toy", *flags,
                          log_path=str(tmp_path / "server.log"), ready_models=("toy",)).start()  # fmt: skip


def test_sigterm_answers_every_received_request_and_refuses_the_rest(tmp_path):
    server = _start(tmp_path, "--drain_seconds=5")
    outcomes, stop, threads = _load(server, spins=(0, 20000))  # fast, and slow ones of about 0.2 s under load
    # One large REST request whose body is still arriving at SIGTERM.
    rows = 20000
    body = json.dumps({"instances": [{"x": 1.0, "name": "large"}] * rows}).encode()
    large = socket.create_connection(tuple(server.rest.split(":")), timeout=60)
    head = f"POST /v1/models/toy:predict HTTP/1.1\r\nHost: toy\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    large.sendall(head + body[: len(body) // 2])
    time.sleep(2)  # steady load
    try:
        took = threading.Thread(target=lambda: outcomes.__setattr__("took", _sigterm_and_wait(server, outcomes)))
        took.start()
        time.sleep(0.3)
        large.sendall(body[len(body) // 2 :])
        reply = http.client.HTTPResponse(large)
        reply.begin()
        large_answer = (reply.status, json.loads(reply.read()))
        took.join()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        large.close()
    assert large_answer[0] == 200 and len(large_answer[1]["predictions"]) == rows
    last = {"y": 3.0, "greeting": "hello large", "name_bytes": {"b64": "bGFyZ2U="}}
    assert large_answer[1]["predictions"][-1] == last
    assert outcomes.in_flight_at_sigterm >= CLIENTS // 2 and set(outcomes.before) == {"OK"}, set(outcomes.before)
    refused = [o for o in outcomes.after if o != "OK"]
    assert all(any(text in o for text in NOT_RECEIVED) for o in refused), sorted(set(refused))
    assert outcomes.took <= 5 + 1
    assert "stopped" in server.output() and "answered UNAVAILABLE" not in server.output()


def test_requests_still_running_at_the_deadline_are_answered_unavailable(tmp_path):
    server = _start(tmp_path, "--drain_seconds=1")
    outcomes, stop, threads = _load(server, spins=(300000, 300000))  # every request takes seconds
    time.sleep(3)  # every client has a request running
    try:
        took = _sigterm_and_wait(server, outcomes)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert took <= 1 + 1
    cut = [o for o in outcomes.before if o != "OK"]
    rest_cut = '503 b\'{"error":"The server is shutting down"}\''
    assert set(cut) == {"UNAVAILABLE: The server is shutting down", rest_cut}, sorted(set(cut))
    assert len(cut) >= CLIENTS // 2  # most of the 16 were still running; none was left unanswered
    assert f"stopped; {len(cut)} still running at the deadline answered UNAVAILABLE" in server.output()
