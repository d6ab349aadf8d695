"""serving/options.py and serving/config.py: TF Serving's flags and configuration files, and their errors.

Flag names, defaults and bool forms are TF Serving's (model_servers/main.cc, TensorFlow's command_line_flags.cc);
configuration files are the text-format protos TF Serving reads, so a file written for TF Serving works here.
"""

import argparse
import os

import pytest

from serving import config, options


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    return parser.parse_args(list(flags))


def server_options(*flags: str):
    found, _ = options.from_args(parse(*flags))
    return found


def options_error(*flags: str) -> str:
    with pytest.raises(options.OptionsError) as raised:
        options.from_args(parse(*flags))
    return str(raised.value)


def config_error(call, *args) -> str:
    with pytest.raises(config.ConfigError) as raised:
        call(*args)
    return str(raised.value)


@pytest.fixture
def write(tmp_path):
    def write_file(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write_file


# options: flags


def test_tf_serving_defaults():
    server = server_options("--model_base_path=/models/taxi")

    assert server.port == 8500
    assert server.model_base_path == "/models/taxi"
    assert server.model_name is None
    assert server.file_system_poll_wait_seconds == 1
    assert server.model_config_file_poll_wait_seconds == 0
    assert server.enable_batching is False
    assert server.enable_model_warmup is True
    assert server.rest_api_timeout_in_ms == 30000


def test_flags_take_both_equals_and_space_forms():
    server = server_options("--port", "9000", "--rest_api_port=9001", "--model_base_path", "/m")

    assert (server.port, server.rest_api_port, server.model_base_path) == (9000, 9001, "/m")


@pytest.mark.parametrize(
    "flags, enabled",
    [
        ((), False),
        (("--enable_batching",), True),
        (("--enable_batching=true",), True),
        (("--enable_batching=false",), False),
        (("--enable_batching=1",), True),
        (("--enable_batching=0",), False),
    ],
)
def test_bool_flags_in_tf_serving_forms(flags, enabled):
    assert server_options("--model_base_path=/m", *flags).enable_batching is enabled


def test_a_bool_flag_that_defaults_to_true_can_be_turned_off():
    assert server_options("--model_base_path=/m", "--enable_model_warmup=false").enable_model_warmup is False


def test_a_bool_flag_refuses_other_words(capsys):
    with pytest.raises(SystemExit):
        parse("--model_base_path=/m", "--enable_batching=maybe")

    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_model_config_file_and_model_base_path_exclude_each_other(write):
    path = write("models.config", "model_config_list {}")

    message = options_error(f"--model_config_file={path}", "--model_base_path=/m")

    assert message == "give either --model_config_file or --model_name/--model_base_path, not both"


def test_nothing_to_serve():
    assert options_error("--port=9000") == (
        "nothing to serve: give --model_base_path=<folder of versions> or --model_config_file"
    )


def test_the_same_port_twice():
    assert options_error("--model_base_path=/m", "--port=9000", "--rest_api_port=9000") == (
        "--port and --rest_api_port are both 9000; use two different ports"
    )


def test_a_port_out_of_range():
    assert options_error("--model_base_path=/m", "--rest_api_port=70000") == (
        "--rest_api_port=70000 is not a port number (0-65535)"
    )


@pytest.mark.parametrize("flag", ["model_config_file", "monitoring_config_file", "batching_parameters_file"])
def test_missing_files_are_named(tmp_path, flag):
    missing = str(tmp_path / "absent.config")
    serve = [] if flag == "model_config_file" else ["--model_base_path=/m"]
    batching = ["--enable_batching"] if flag == "batching_parameters_file" else []

    assert options_error(*serve, *batching, f"--{flag}={missing}") == f"--{flag}={missing}: no such file"


def test_batching_parameters_file_needs_enable_batching(write):
    path = write("batching.config", "max_batch_size { value: 8 }")

    assert options_error("--model_base_path=/m", f"--batching_parameters_file={path}") == (
        "--batching_parameters_file needs --enable_batching"
    )


def test_explicit_tf_serving_flags_are_what_the_user_gave():
    args = parse(
        "--model_base_path=/models/taxi", "--port", "9000", "--enable_batching", "--host=0.0.0.0", "--drain_seconds=3"
    )

    flags = options.explicit_tf_serving_flags(args)

    assert sorted(flags) == ["--enable_batching=true", "--model_base_path=/models/taxi", "--port=9000"]


def test_explicit_tf_serving_flags_write_false_bools():
    args = parse("--model_base_path=/m", "--enable_model_warmup=false")

    assert "--enable_model_warmup=false" in options.explicit_tf_serving_flags(args)


# config: the model config file

MODELS_CONFIG = """
model_config_list {
  config {
    name: "taxi"
    base_path: "/models/taxi"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: "stable" value: 42 }
    version_labels { key: "canary" value: 43 }
    logging_config {
      log_collector_config { type: "tfrecord" filename_prefix: "/logs/taxi/requests" }
      sampling_config { sampling_rate: 0.25 }
    }
  }
  config {
    name: "everything"
    base_path: "relative/everything"
    model_version_policy { all {} }
  }
  config {
    name: "newest_two"
    base_path: "/models/newest_two"
    model_version_policy { latest { num_versions: 2 } }
  }
}
"""


def test_a_multi_model_config_file(write):
    path = write("models.config", MODELS_CONFIG)

    models = config.read_model_config_file(path).model_config_list.config

    assert [m.name for m in models] == ["taxi", "everything", "newest_two"]
    taxi, everything, newest_two = models
    assert taxi.base_path == "/models/taxi"
    assert list(taxi.model_version_policy.specific.versions) == [42, 43]
    assert dict(taxi.version_labels) == {"stable": 42, "canary": 43}
    assert taxi.logging_config.log_collector_config.type == "tfrecord"
    assert taxi.logging_config.log_collector_config.filename_prefix == "/logs/taxi/requests"
    assert taxi.logging_config.sampling_config.sampling_rate == pytest.approx(0.25)
    assert everything.model_version_policy.WhichOneof("policy_choice") == "all"
    # TF Serving keeps a relative base_path as written.
    assert everything.base_path == "relative/everything"
    assert newest_two.model_version_policy.latest.num_versions == 2


def test_latest_zero_versions_is_accepted(write):
    # num_versions is a uint32 that TF Serving reads as at least 1 (file_system_storage_path_source.cc).
    path = write(
        "models.config",
        'model_config_list { config { name: "m" base_path: "/m" '
        "model_version_policy { latest { num_versions: 0 } } } }",
    )

    (model,) = config.read_model_config_file(path).model_config_list.config

    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"


def test_one_model_from_flags_gets_tf_serving_defaults():
    server = server_options("--model_base_path=/models/taxi")

    (model,) = config.model_server_config(server).model_config_list.config

    assert (model.name, model.base_path, model.model_platform) == ("default", "/models/taxi", "tensorflow")
    assert model.model_version_policy.latest.num_versions == 1


def test_a_syntax_error_names_the_file(write):
    path = write("models.config", 'model_config_list {\n  config {\n    name: "taxi"\n')

    message = config_error(config.read_model_config_file, path)

    assert message.startswith(f"{path}: 3:")
    assert message.endswith("(expected a text-format ModelServerConfig)")


def test_an_unknown_field_names_the_file_and_the_field(write):
    path = write("models.config", 'model_config_list { config { name: "taxi" base_path: "/m" bas_path: "/x" } }')

    message = config_error(config.read_model_config_file, path)

    assert message.startswith(f"{path}: ")
    assert '"bas_path"' in message


def test_a_model_named_twice(write):
    path = write(
        "models.config",
        'model_config_list { config { name: "taxi" base_path: "/a" } config { name: "taxi" base_path: "/b" } }',
    )

    assert config_error(config.read_model_config_file, path) == f"{path}: model 'taxi' is configured twice"


def test_a_model_without_base_path(write):
    path = write("models.config", 'model_config_list { config { name: "taxi" } }')

    assert config_error(config.read_model_config_file, path) == f"{path}: model 'taxi' has no base_path"


def test_an_unknown_log_collector_type(write):
    path = write(
        "models.config",
        'model_config_list { config { name: "taxi" base_path: "/m" logging_config { '
        'log_collector_config { type: "kafka" filename_prefix: "/logs/x" } sampling_config { sampling_rate: 1 } } } }',
    )

    message = config_error(config.read_model_config_file, path)

    assert message.startswith(f"{path}: model 'taxi': log_collector_config type 'kafka' is not registered")


@pytest.mark.parametrize("rate", ["1.5", "-0.1"])
def test_a_sampling_rate_outside_zero_to_one(write, rate):
    path = write(
        "models.config",
        'model_config_list { config { name: "taxi" base_path: "/m" logging_config { '
        'log_collector_config { type: "tfrecord" filename_prefix: "/logs/x" } '
        f"sampling_config {{ sampling_rate: {rate} }} }} }} }}",
    )

    message = config_error(config.read_model_config_file, path)

    assert message.startswith(f"{path}: model 'taxi': sampling_rate must be between 0 and 1, got ")
    assert float(message.rsplit(" ", 1)[1]) == pytest.approx(float(rate))


def test_an_unreadable_config_file(tmp_path):
    message = config_error(config.read_model_config_file, str(tmp_path))

    assert message.startswith(f"{tmp_path}: cannot be read: ")


# config: monitoring


def test_no_monitoring_without_a_file():
    assert config.monitoring_path(options.ServerOptions()) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("prometheus_config { enable: true }", "/monitoring/prometheus/metrics"),
        ('prometheus_config { enable: true path: "/metrics" }', "/metrics"),
        ('prometheus_config { enable: false path: "/metrics" }', None),
        ("", None),
    ],
)
def test_monitoring_path(write, text, expected):
    path = write("monitoring.config", text)

    assert config.monitoring_path(options.ServerOptions(monitoring_config_file=path)) == expected


def test_a_monitoring_path_inside_the_rest_api_is_refused(write):
    path = write("monitoring.config", 'prometheus_config { enable: true path: "/v1/metrics" }')

    message = config_error(config.monitoring_path, options.ServerOptions(monitoring_config_file=path))

    assert message == f"{path}: prometheus path '/v1/metrics' must start with / and not /v1/"


def test_an_unknown_monitoring_field_names_the_file(write):
    path = write("monitoring.config", "prometheus_config { enabled: true }")

    message = config_error(config.monitoring_path, options.ServerOptions(monitoring_config_file=path))

    assert message.startswith(f"{path}: ")
    assert '"enabled"' in message
    assert message.endswith("(expected a text-format MonitoringConfig)")


# config: batching parameters


def test_batching_defaults_are_tensorflow_queue_defaults():
    params = config.batching_parameters(options.ServerOptions(enable_batching=True))

    assert params.max_batch_size.value == 1000
    assert params.batch_timeout_micros.value == 0
    assert params.max_enqueued_batches.value == 10
    # TensorFlow's port::MaxParallelism(): the CPUs this process may run on.
    assert params.num_batch_threads.value == len(os.sched_getaffinity(0))


def test_batching_parameters_file_keeps_defaults_for_what_it_omits(write):
    path = write(
        "batching.config",
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 5000 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 16\npad_variable_length_inputs: true\n",
    )

    params = config.batching_parameters(options.ServerOptions(enable_batching=True, batching_parameters_file=path))

    assert params.max_batch_size.value == 16
    assert params.batch_timeout_micros.value == 5000
    assert list(params.allowed_batch_sizes) == [8, 16]
    assert params.pad_variable_length_inputs is True
    assert params.max_enqueued_batches.value == 10


@pytest.mark.parametrize(
    "text, expected_max",
    [
        ("max_batch_size { value: 16 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8", 16),
        ("allowed_batch_sizes: 8", 1000),
    ],
)
def test_allowed_batch_sizes_must_end_at_max_batch_size(write, text, expected_max):
    path = write("batching.config", text)
    server = options.ServerOptions(enable_batching=True, batching_parameters_file=path)

    assert config_error(config.batching_parameters, server) == (
        f"{path}: Last entry in allowed_batch_sizes must match max_batch_size; last entry was 8; "
        f"expected {expected_max}"
    )


@pytest.mark.parametrize("field", ["max_batch_size", "max_enqueued_batches", "num_batch_threads"])
def test_batching_sizes_must_be_positive(write, field):
    path = write("batching.config", f"{field} {{ value: 0 }}")
    server = options.ServerOptions(enable_batching=True, batching_parameters_file=path)

    assert config_error(config.batching_parameters, server) == f"{path}: {field} must be at least 1"


def test_an_unknown_batching_field_names_the_file(write):
    path = write("batching.config", "max_batch_sizes { value: 8 }")
    server = options.ServerOptions(enable_batching=True, batching_parameters_file=path)

    message = config_error(config.batching_parameters, server)

    assert message.startswith(f"{path}: ")
    assert '"max_batch_sizes"' in message


def test_every_tf_serving_flag_is_accepted_runtime_tuning_ones_with_a_warning():
    found, warnings = options.from_args(
        parse(
            "--model_base_path=/m",
            "--num_load_threads=4",
            "--xla_cpu_compilation_enabled",
            "--rest_api_timeout_in_ms=0",
        )
    )
    assert found.rest_api_timeout_in_ms == 0  # TF Serving: no deadline
    assert warnings == [
        "--num_load_threads is ignored by the built-in server",
        "--xla_cpu_compilation_enabled is ignored by the built-in server",
    ]


@pytest.mark.parametrize("flag", ["--ssl_config_file=/etc/ssl.conf", "--enable_grpc_healthcheck_service"])
def test_flags_whose_meaning_cannot_be_kept_are_refused_with_the_reason(flag):
    message = options_error("--model_base_path=/m", flag)
    assert message.startswith(f"{flag.split('=')[0]} is not supported by the built-in server: ")


def test_grpc_channel_arguments_become_server_options():
    found = server_options("--model_base_path=/m", "--grpc_channel_arguments=grpc.max_concurrent_streams=10,a.b=x")
    assert options.grpc_arguments(found) == [("grpc.max_concurrent_streams", 10), ("a.b", "x")]
    assert "is not name=value" in options_error("--model_base_path=/m", "--grpc_channel_arguments=oops")


def test_all_given_tf_serving_flags_reach_the_real_binary():
    given = parse("--model_base_path=/m", "--port=9", "--enable_batching", "--num_load_threads=4", "--host=0.0.0.0")
    assert options.explicit_tf_serving_flags(given) == [
        "--port=9", "--model_base_path=/m", "--enable_batching=true", "--num_load_threads=4",
    ]  # fmt: skip
