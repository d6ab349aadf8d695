"""serving/batching.py: BatchScheduler on a real SavedModel (the toy model of toy_model.py).

Every batched reply is compared with the same request run unbatched through `Servable.predict`, so a row given to
the wrong caller, or a batch that mixes signatures, shows up as a wrong value.
"""

import threading
import time

import grpc
import numpy as np
import pytest
from toy_model import example, save_toy_model

from serving.batching import BatchScheduler
from serving.config import BatchingParameters
from serving.servable import Servable
from serving.status import ServingError


@pytest.fixture(scope="module")
def servable(tmp_path_factory):
    path = save_toy_model(str(tmp_path_factory.mktemp("toy") / "1"), offset=1.0, warmup=False)
    return Servable("toy", 1, path)


@pytest.fixture(scope="module")
def signature(servable):
    return servable.signature("")


@pytest.fixture
def batches():
    """Sizes of the batches run, in order (the on_batch callback)."""
    return []


@pytest.fixture
def make_scheduler(batches):
    schedulers = []

    def make(max_batch_size=8, batch_timeout_micros=200_000, max_enqueued_batches=10, num_batch_threads=1):
        params = BatchingParameters()
        params.max_batch_size.value = max_batch_size
        params.batch_timeout_micros.value = batch_timeout_micros
        params.max_enqueued_batches.value = max_enqueued_batches
        params.num_batch_threads.value = num_batch_threads
        scheduler = BatchScheduler(params, on_batch=lambda rows, delay: batches.append((rows, delay)))
        schedulers.append(scheduler)
        return scheduler

    yield make
    for scheduler in schedulers:
        scheduler.close()


def request(*values: float) -> dict[str, np.ndarray]:
    return {
        "x": np.array(values, np.float32),
        "name": np.array([f"caller {v}".encode() for v in values], dtype=object),
    }


def submit_together(scheduler, servable, signature, requests: list[dict]) -> list:
    """Submits every request from its own thread at the same moment; each caller's outputs or ServingError."""
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def call(index: int) -> None:
        start.wait()
        try:
            results[index] = scheduler.submit(servable, signature, requests[index]).result(timeout=10)
        except ServingError as error:
            results[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return results


def assert_same_outputs(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        assert actual[name].tolist() == expected[name].tolist(), name


def test_concurrent_requests_run_as_one_batch(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=200_000)
    requests = [request(float(i)) for i in range(8)]

    results = submit_together(scheduler, servable, signature, requests)
    scheduler.close()

    assert [rows for rows, _ in batches] == [8]
    for inputs, outputs in zip(requests, results, strict=True):
        assert_same_outputs(outputs, servable.predict(signature, inputs))


def test_each_caller_gets_its_own_rows_back(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=200_000)
    requests = [request(1.0), request(2.0, 3.0), request(-4.0, 5.5), request(10.0, 20.0, 30.0)]

    results = submit_together(scheduler, servable, signature, requests)
    scheduler.close()

    assert [rows for rows, _ in batches] == [8]
    for inputs, outputs in zip(requests, results, strict=True):
        assert_same_outputs(outputs, servable.predict(signature, inputs))
        assert outputs["y"].tolist() == (2 * inputs["x"] + 1).tolist()


def test_a_lone_request_runs_after_the_batch_timeout(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=100_000)

    started = time.monotonic()
    outputs = scheduler.submit(servable, signature, request(1.5)).result(timeout=10)
    waited = time.monotonic() - started
    scheduler.close()

    assert outputs["y"].tolist() == [4.0]
    assert waited >= 0.09
    assert [rows for rows, _ in batches] == [1]
    assert batches[0][1] >= 0.09


def test_a_full_batch_runs_without_waiting_for_the_timeout(make_scheduler, servable, signature):
    scheduler = make_scheduler(max_batch_size=2, batch_timeout_micros=30_000_000)

    started = time.monotonic()
    outputs = scheduler.submit(servable, signature, request(1.0, 2.0)).result(timeout=10)

    assert outputs["y"].tolist() == [3.0, 5.0]
    assert time.monotonic() - started < 5


def test_requests_for_different_signatures_are_not_mixed(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=100_000)
    regress = servable.signature("regress")
    examples = {"inputs": np.array([example(1.0), example(-2.0)], dtype=object)}
    results = [None, None]
    start = threading.Barrier(2)

    def call(index, chosen, inputs):
        start.wait()
        results[index] = scheduler.submit(servable, chosen, inputs).result(timeout=10)

    threads = [
        threading.Thread(target=call, args=(0, signature, request(1.0, 2.0))),
        threading.Thread(target=call, args=(1, regress, examples)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    scheduler.close()

    assert sorted(rows for rows, _ in batches) == [2, 2]
    assert_same_outputs(results[0], servable.predict(signature, request(1.0, 2.0)))
    assert results[1]["outputs"].tolist() == [3.0, -3.0]


def test_an_output_filter_is_applied(make_scheduler, servable, signature):
    scheduler = make_scheduler(batch_timeout_micros=0)

    outputs = scheduler.submit(servable, signature, request(1.0), output_filter=("y",)).result(timeout=10)

    assert list(outputs) == ["y"]
    assert outputs["y"].tolist() == [3.0]


def test_a_task_larger_than_max_batch_size_is_refused(make_scheduler, servable, signature):
    scheduler = make_scheduler(max_batch_size=8)

    with pytest.raises(ServingError) as raised:
        scheduler.submit(servable, signature, request(*range(9)))

    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.message == "Task size 9 is larger than maximum input batch size 8"


def test_a_full_queue_refuses_with_unavailable(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=30_000_000, max_enqueued_batches=1)
    queued = scheduler.submit(servable, signature, request(1.0, 2.0, 3.0, 4.0, 5.0))

    with pytest.raises(ServingError) as raised:
        scheduler.submit(servable, signature, request(6.0, 7.0, 8.0, 9.0, 10.0))
    scheduler.close()

    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert raised.value.message.startswith("The batch scheduling queue to which this task was submitted is full")
    assert queued.result(timeout=10)["y"].tolist() == [3.0, 5.0, 7.0, 9.0, 11.0]
    assert [rows for rows, _ in batches] == [5]


def test_a_full_queue_says_how_full_as_tensorflow_does(make_scheduler, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=30_000_000, max_enqueued_batches=1)
    scheduler.submit(servable, signature, request(1.0, 2.0, 3.0, 4.0, 5.0))

    with pytest.raises(ServingError) as raised:
        scheduler.submit(servable, signature, request(6.0, 7.0, 8.0, 9.0, 10.0))

    assert raised.value.message == (
        "The batch scheduling queue to which this task was submitted is full; currently 1 batches enqueued and "
        "max_enqueued_batches is 1"
    )


def test_inputs_of_unequal_batch_sizes_are_refused(make_scheduler, servable, signature):
    scheduler = make_scheduler(batch_timeout_micros=0)
    uneven = {"x": np.array([1.0, 2.0], np.float32), "name": np.array([b"a", b"b", b"c"], dtype=object)}

    with pytest.raises(ServingError) as raised:
        scheduler.submit(servable, signature, uneven).result(timeout=10)

    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.message == "Batching Run() input tensors must have equal 0th-dimension size"


def test_a_request_with_a_wrong_input_name_fails_alone(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=3, batch_timeout_micros=200_000)
    good = [request(1.0), request(2.0), request(3.0)]
    bad = {"x": np.array([4.0], np.float32), "nmae": np.array([b"typo"], dtype=object)}

    results = submit_together(scheduler, servable, signature, [good[0], bad, good[1], good[2]])
    scheduler.close()

    error = results[1]
    assert isinstance(error, ServingError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "input size does not match signature: 2!=2 len({nmae,x}) != len({name,x}). Sent extra: {nmae}. "
        "Missing but required: {name}."
    )
    for inputs, outputs in zip(good, [results[0], results[2], results[3]], strict=True):
        assert_same_outputs(outputs, servable.predict(signature, inputs))
    assert [rows for rows, _ in batches] == [3]


def test_close_runs_what_is_queued(make_scheduler, batches, servable, signature):
    scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=30_000_000)
    first = scheduler.submit(servable, signature, request(1.0))
    second = scheduler.submit(servable, signature, request(2.0, 3.0))

    started = time.monotonic()
    scheduler.close()

    assert time.monotonic() - started < 5
    assert first.result(timeout=0)["y"].tolist() == [3.0]
    assert second.result(timeout=0)["y"].tolist() == [5.0, 7.0]
    assert [rows for rows, _ in batches] == [3]
    with pytest.raises(ServingError) as raised:
        scheduler.submit(servable, signature, request(4.0))
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
