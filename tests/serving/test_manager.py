"""ModelManager in-process: version policies, labels, availability-preserving swaps, load failures and retries."""

import os
import shutil

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2
from toy_model import save_toy_model

from serving.manager import LoadSettings, ModelManager, State
from serving.servable import WARMUP_FILE
from serving.status import ServingError


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[int, str]:
    """Saved toy versions to copy from: version n answers y = 2x + n."""
    root = tmp_path_factory.mktemp("toy-versions")
    return {n: save_toy_model(str(root / str(n)), offset=float(n)) for n in (1, 2, 3)}


def _config(base, policy: str = "", labels: dict | None = None) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name="toy", base_path=str(base), model_platform="tensorflow")
    if policy == "all":
        model.model_version_policy.all.SetInParent()
    elif policy:
        model.model_version_policy.specific.versions.extend(int(v) for v in policy.split(","))
    for label, version in (labels or {}).items():
        model.version_labels[label] = version
    return config


def _answer(manager: ModelManager, **spec) -> float:
    servable = manager.resolve("toy", **spec)
    signature = servable.signature("")
    x = tf.constant([0.0])
    return float(servable.predict(signature, {"x": x.numpy(), "name": tf.constant([b"n"]).numpy()})["y"][0])


def _states(manager: ModelManager) -> dict[int, str]:
    return {s.version: State.Name(s.state) for s in manager.status("toy").model_version_status}


def test_latest_policy_swaps_only_once_the_new_version_is_available(tmp_path, versions):
    shutil.copytree(versions[1], tmp_path / "1")
    manager = ModelManager(_config(tmp_path))
    manager.initial_load(settle_seconds=0)
    assert _states(manager) == {1: "AVAILABLE"} and _answer(manager) == 1.0
    in_flight = manager.resolve("toy")
    shutil.copytree(versions[2], tmp_path / "2")
    manager.poll()  # first look at version 2: not loaded until its files are seen unchanged
    assert _states(manager) == {1: "AVAILABLE"}
    manager.poll()
    assert _states(manager) == {2: "AVAILABLE", 1: "END"} and _answer(manager) == 2.0
    signature = in_flight.signature("")
    still = in_flight.predict(signature, {"x": tf.constant([0.0]).numpy(), "name": tf.constant([b"n"]).numpy()})
    assert float(still["y"][0]) == 1.0  # a request that holds the old version finishes on it


def test_a_folder_without_saved_model_pb_is_not_a_version_yet(tmp_path, versions):
    shutil.copytree(versions[1], tmp_path / "1")
    shutil.copytree(versions[2], tmp_path / "2", ignore=shutil.ignore_patterns("saved_model.pb"))  # copy in progress
    manager = ModelManager(_config(tmp_path))
    manager.initial_load(settle_seconds=0)
    assert _states(manager) == {1: "AVAILABLE"} and _answer(manager) == 1.0
    shutil.copy(os.path.join(versions[2], "saved_model.pb"), tmp_path / "2")
    manager.poll()
    manager.poll()
    assert _states(manager) == {2: "AVAILABLE", 1: "END"} and _answer(manager) == 2.0


def test_a_version_that_fails_to_load_is_reported_and_the_previous_one_keeps_serving(tmp_path, versions):
    shutil.copytree(versions[1], tmp_path / "1")
    manager = ModelManager(_config(tmp_path), LoadSettings(max_retries=0))
    manager.initial_load(settle_seconds=0)
    # A half-copied version: saved_model.pb is there, the variables are not (and the copy stalled).
    shutil.copytree(versions[2], tmp_path / "2", ignore=shutil.ignore_patterns("variables*"))
    manager.poll()
    manager.poll()
    status = {s.version: s for s in manager.status("toy").model_version_status}
    assert State.Name(status[2].state) == "END" and status[2].status.error_message.startswith("Failed to load")
    assert State.Name(status[1].state) == "AVAILABLE" and _answer(manager) == 1.0
    manager.poll()
    assert _answer(manager) == 1.0  # no retry while the files are unchanged (max_retries=0)
    shutil.rmtree(tmp_path / "2")
    shutil.copytree(versions[2], tmp_path / "2")  # the copy completes: the files changed, so it is tried again
    manager.poll()
    manager.poll()
    assert _states(manager) == {2: "AVAILABLE", 1: "END"} and _answer(manager) == 2.0


def test_a_failing_warmup_request_fails_the_load(tmp_path, versions):
    shutil.copytree(versions[1], tmp_path / "1")
    shutil.copytree(versions[2], tmp_path / "2")
    request = predict_pb2.PredictRequest()
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0]))  # "name" is missing: TF Serving fails such a load
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(os.path.join(tmp_path, "2", WARMUP_FILE)) as writer:
        writer.write(log.SerializeToString())
    manager = ModelManager(_config(tmp_path, policy="all"))
    manager.initial_load(settle_seconds=0)
    status = {s.version: s for s in manager.status("toy").model_version_status}
    assert (
        State.Name(status[2].state) == "END" and "input size does not match signature" in status[2].status.error_message
    )
    assert _answer(manager) == 1.0
    no_warmup = ModelManager(_config(tmp_path, policy="all"), LoadSettings(warmup=False))
    no_warmup.initial_load(settle_seconds=0)
    assert _states(no_warmup) == {2: "AVAILABLE", 1: "AVAILABLE"}


def test_specific_versions_labels_and_tf_serving_errors(tmp_path, versions):
    for n in (1, 2, 3):
        shutil.copytree(versions[n], tmp_path / str(n))
    manager = ModelManager(_config(tmp_path, policy="1,2", labels={"stable": 1, "canary": 2}))
    manager.initial_load(settle_seconds=0)
    manager.assign_labels()
    assert _states(manager) == {2: "AVAILABLE", 1: "AVAILABLE"}
    assert _answer(manager) == 2.0 and _answer(manager, version=1) == 1.0
    assert _answer(manager, label="stable") == 1.0 and _answer(manager, label="canary") == 2.0
    errors = {
        "Servable not found for request: Specific(toy, 3)": dict(version=3),
        "Unrecognized servable version label: beta": dict(label="beta"),
    }
    for message, spec in errors.items():
        with pytest.raises(ServingError) as raised:
            manager.resolve("toy", **spec)
        assert raised.value.message == message
    with pytest.raises(ServingError) as raised:
        manager.resolve("other")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND and raised.value.message.endswith("Latest(other)")
    # A label may only name a loaded version: refused as TF Serving refuses it, and the old labels stay.
    manager.apply_config(_config(tmp_path, policy="1,2", labels={"stable": 3}))
    with pytest.raises(ServingError) as raised:
        manager.assign_labels()
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.message == (
        "Request to assign label to version 3 of model toy, which is not currently available for inference"
    )
    assert _answer(manager, label="stable") == 1.0
    # A reload that moves a label and drops version 1 (as `kfx promote` sends it)
    manager.apply_config(_config(tmp_path, policy="2,3", labels={"stable": 2}))
    manager.initial_load(settle_seconds=0)
    manager.assign_labels()
    assert _states(manager) == {3: "AVAILABLE", 2: "AVAILABLE", 1: "END"}
    assert _answer(manager, label="stable") == 2.0 and _answer(manager) == 3.0
    with pytest.raises(ServingError):  # "canary" is gone from the new config
        manager.resolve("toy", label="canary")


def test_an_emptied_folder_keeps_the_loaded_version_serving(tmp_path, versions):
    shutil.copytree(versions[1], tmp_path / "1")
    manager = ModelManager(_config(tmp_path))
    manager.initial_load(settle_seconds=0)
    shutil.rmtree(tmp_path / "1")
    manager.poll()
    assert _answer(manager) == 1.0
