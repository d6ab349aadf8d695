"""--file_system_poll_wait_seconds of 0 or less: the server looks for versions until each model has one, then no more.

TF Serving differs here (0 looks once, below 0 never looks); the option's help and README say so.
"""

import os
import time

import pytest
from server_process import builtin_server
from toy_model import save_toy_model

from serving.client import GrpcClient


def _available(server) -> list[int]:
    client = GrpcClient(server.grpc)
    try:
        return client.available_versions("toy")
    finally:
        client.close()


@pytest.mark.parametrize("wait", ["0", "-1"])
def test_no_polling_once_every_model_has_a_version(tmp_path, wait):
    base, staging = tmp_path / "toy", tmp_path / "staging"
    base.mkdir()
    server = builtin_server(f"--model_base_path={base}", "--model_name=toy", f"--file_system_poll_wait_seconds={wait}",
                            log_path=str(tmp_path / "server.log")).start()  # fmt: skip
    try:
        server.wait_for_output("waiting for model 'toy'")
        os.rename(save_toy_model(str(staging / "1"), offset=1.0), base / "1")
        server.wait_for_output("serving model 'toy' version 1", timeout=60)
        assert _available(server) == [1]
        os.rename(save_toy_model(str(staging / "2"), offset=2.0), base / "2")
        time.sleep(4)  # a 1 s poll would have loaded version 2 by now (two looks, then a toy model's load)
        assert _available(server) == [1]
    finally:
        assert server.stop() == 0
