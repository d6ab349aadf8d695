"""A load generator for TF-Serving-compatible servers that sends pre-encoded requests (no TensorFlow imported).

Each of `--clients` threads keeps one connection (HTTP/1.1 keep-alive, or a gRPC channel) and sends the payloads
in turn until the time is up; only requests that finish inside the measured window (after `--warmup` seconds) count.
Prints one JSON object: requests, errors, seconds, the measured latencies in microseconds and when each measured
request started (Unix time, so that runs in several processes line up with events such as a version swap).

SIGINT ends the run early (the results so far are printed), for a caller that stops it when its events are over.

Usage: python -m bench.load --protocol rest|grpc --address HOST:PORT --path /v1/models/m:predict \
           --payloads FILE (length-prefixed records) --clients 16 --seconds 10 --warmup 2
"""

import argparse
import http.client
import json
import signal
import struct
import sys
import threading
import time

import grpc

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def read_payloads(path: str) -> list[bytes]:
    payloads = []
    with open(path, "rb") as f:
        while header := f.read(4):
            (size,) = struct.unpack("<I", header)
            payloads.append(f.read(size))
    return payloads


def write_payloads(path: str, payloads: list[bytes]) -> None:
    with open(path, "wb") as f:
        for payload in payloads:
            f.write(struct.pack("<I", len(payload)) + payload)


def _rest_sender(address: str, path: str):
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json"}

    def send(payload: bytes) -> bool:
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status == 200

    return send


def _grpc_sender(address: str):
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(PREDICT_METHOD)  # bytes in, bytes out: no protos needed here

    def send(payload: bytes) -> bool:
        try:
            call(payload, timeout=30)
            return True
        except grpc.RpcError:
            return False

    return send


def run(
    protocol: str,
    address: str,
    path: str,
    payloads: list[bytes],
    clients: int,
    seconds: float,
    warmup: float,
    stop: threading.Event | None = None,
):
    stop = stop or threading.Event()
    start = time.monotonic() + warmup
    end = start + seconds
    unix_offset = time.time() - time.monotonic()
    results = [[0, 0, [], []] for _ in range(clients)]

    def client(index: int) -> None:
        send = _rest_sender(address, path) if protocol == "rest" else _grpc_sender(address)
        record, i = results[index], index
        while True:
            began = time.monotonic()
            if began >= end or stop.is_set():
                return
            ok = send(payloads[i % len(payloads)])
            finished = time.monotonic()
            i += clients
            if began >= start and finished <= end:
                record[0 if ok else 1] += 1
                record[2].append(round((finished - began) * 1e6))
                record[3].append(round(began + unix_offset, 4))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "requests": sum(r[0] for r in results),
        "errors": sum(r[1] for r in results),
        "seconds": seconds,
        "latencies_us": [latency for r in results for latency in r[2]],
        "started_unix": [started for r in results for started in r[3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=["rest", "grpc"], required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--path", default="")
    parser.add_argument("--payloads", required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()
    payloads = read_payloads(args.payloads)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    result = run(args.protocol, args.address, args.path, payloads, args.clients, args.seconds, args.warmup, stop)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
