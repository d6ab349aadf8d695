"""The server's flags: all of `tensorflow_model_server`'s, with its names, meanings and defaults.

`tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=m --model_base_path=/models/m` works here
as written (both `--flag=value` and `--flag value`). Flags that only tune TF Serving's C++ runtime or hardware
(TFLite, XLA, GPU memory, its thread pools) are accepted and ignored with a warning; flags whose meaning this server
cannot honour (TLS, ALTS, platform configs, the gRPC health service) are refused with the reason. Flags this server
adds are marked "(this server only)" and are never passed to the real binary.
"""

import argparse
import dataclasses
import os

CPUS = len(os.sched_getaffinity(0))

# Implemented: name -> (type, default, help). Defaults are TF Serving's (model_servers/main.cc), except
# rest_api_port: 8501 as in TF Serving's Docker image (the binary's own default, 0, turns REST off; 0 still does).
TF_SERVING_FLAGS: dict[str, tuple[type, object, str]] = {
    "port": (int, 8500, "gRPC port"),
    "grpc_socket_path": (str, None, "also listen for gRPC on this UNIX socket"),
    "rest_api_port": (int, 8501, "REST port; 0 turns REST off"),
    "rest_api_num_threads": (int, 4 * CPUS, "threads running REST and gRPC model calls"),
    "rest_api_timeout_in_ms": (int, 30000, "REST request deadline; 0: none"),
    "rest_api_enable_cors_support": (bool, False, "answer CORS preflights and add CORS headers"),
    "model_name": (str, None, "name of the model when serving one (default 'default')"),
    "model_base_path": (str, None, "folder of <version>/ SavedModels when serving one model"),
    "model_config_file": (str, None, "text-format ModelServerConfig (model_config_list), for several models"),
    "model_config_file_poll_wait_seconds": (int, 0, "re-read --model_config_file this often; 0 reads it once"),
    "file_system_poll_wait_seconds": (
        int,
        1,
        "look for new versions this often; 0 or less: only until each model has one (TF Serving: 0 once, <0 never)",
    ),
    "allow_version_labels_for_unavailable_models": (bool, False, "let a new label name a version not loaded yet"),
    "max_num_load_retries": (int, 5, "retries of a version that failed to load"),
    "load_retry_interval_micros": (int, 60_000_000, "wait between load retries"),
    "enable_batching": (bool, False, "combine concurrent requests into batches"),
    "batching_parameters_file": (str, None, "text-format BatchingParameters for --enable_batching"),
    "enable_model_warmup": (bool, True, "replay assets.extra/tf_serving_warmup_requests before serving a version"),
    "num_request_iterations_for_warmup": (int, 1, "times each warmup record is replayed"),
    "monitoring_config_file": (str, None, "text-format MonitoringConfig (prometheus_config { enable: true })"),
    "saved_model_tags": (str, "serve", "comma-separated tags of the MetaGraph to load"),
    "tensorflow_intra_op_parallelism": (int, 0, "threads inside one op; 0: TensorFlow decides"),
    "tensorflow_inter_op_parallelism": (int, 0, "ops run in parallel; 0: TensorFlow decides"),
    "grpc_channel_arguments": (str, "", "gRPC server arguments, e.g. grpc.max_concurrent_streams=100,..."),
    "enable_signature_method_name_check": (bool, False, "classify/regress only on signatures with those method names"),
    "enable_serialization_as_tensor_content": (bool, False, "gRPC outputs as tensor_content instead of typed values"),
    "version": (bool, False, "print the version and exit"),
}
# Accepted for compatibility; they tune TF Serving's own runtime and change nothing here.
IGNORED_FLAGS = (
    "enable_per_model_batching_parameters", "num_load_threads", "num_unload_threads", "flush_filesystem_caches",
    "tensorflow_session_parallelism", "tensorflow_session_config_file", "per_process_gpu_memory_fraction",
    "grpc_max_threads", "remove_unused_fields_from_bundle_metagraph", "prefer_tflite_model", "num_tflite_pools",
    "num_tflite_interpreters_per_pool", "xla_cpu_compilation_enabled", "xla_gpu_compilation_enabled",
    "enable_profiler", "thread_pool_factory_config_file", "mixed_precision", "skip_initialize_tpu",
)  # fmt: skip
REFUSED_FLAGS = {
    "ssl_config_file": "TLS is not built in; run tensorflow_model_server or put a TLS proxy in front",
    "use_alts_credentials": "ALTS is not built in; run tensorflow_model_server",
    "platform_config_file": "only the tensorflow platform is served",
    "enable_grpc_healthcheck_service": "the grpc.health.v1 service is not built in; probe GetModelStatus instead",
}
# (this server only) name -> (type, default, help).
OWN_FLAGS: dict[str, tuple[type, object, str]] = {
    "host": (str, "127.0.0.1", "address to bind, e.g. 0.0.0.0 for every interface (this server only)"),
    "rest_api_max_request_bytes": (int, 64 * 1024 * 1024, "larger REST bodies get 413 (this server only)"),
    "request_log_max_file_bytes": (int, 64 * 1024 * 1024, "request log file size before rotating (this server only)"),
    "drain_seconds": (float, 10.0, "on SIGTERM, wait this long for requests in flight (this server only)"),
    # Bounded work per request (serving/limits.py).
    "decode_allowance_bytes": (int, 1 << 20, "requests decode to at most 8x their size + this (this server only)"),
    "rest_api_read_timeout_in_ms": (int, 30000, "a REST body must arrive within this, else 408 (this server only)"),
    "shadow_queue_size": (int, 64, "shadow copies waiting to run; more are dropped and counted (this server only)"),
    "routing_config_file": (
        str,
        None,
        "JSON canary weights and shadow samples per model, re-read with the model config; an extension, TF Serving "
        "has no traffic split (this server only)",
    ),
}
_FLAGS = {**TF_SERVING_FLAGS, **OWN_FLAGS}
_DEFAULTS = {name: spec[1] for name, spec in _FLAGS.items()}

ServerOptions = dataclasses.make_dataclass(
    "ServerOptions",
    [(name, kind if default is not None else kind | None, dataclasses.field(default=default))
     for name, (kind, default, _) in _FLAGS.items()],
    frozen=True,
)  # fmt: skip
ServerOptions.__doc__ = "Every implemented flag with its value (TF Serving's default unless given)."


class OptionsError(ValueError):
    """Flags that cannot work (together); the message names them and the fix."""


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Adds every flag with default None, so `explicit_tf_serving_flags` can tell what the user gave."""
    for table in (TF_SERVING_FLAGS, OWN_FLAGS):
        for name, (kind, default, help_text) in table.items():
            shown = f"{help_text} (default {default})" if default not in (None, "") else help_text
            if kind is bool:
                parser.add_argument(f"--{name}", nargs="?", const=True, type=_bool, metavar="BOOL", help=shown)
            else:
                parser.add_argument(f"--{name}", type=kind, help=shown)
    hidden = argparse.SUPPRESS
    for name in (*IGNORED_FLAGS, *REFUSED_FLAGS):
        parser.add_argument(f"--{name}", nargs="?", const="true", help=hidden)


def from_args(args: argparse.Namespace) -> tuple[ServerOptions, list[str]]:
    """(options, warnings): fills defaults, refuses what cannot work, warns about flags that change nothing."""
    for name, reason in REFUSED_FLAGS.items():
        if getattr(args, name, None) not in (None, "false"):
            raise OptionsError(f"--{name} is not supported by the built-in server: {reason}")
    warnings = [f"--{name} is ignored by the built-in server" for name in IGNORED_FLAGS if getattr(args, name, None)]
    options = ServerOptions(**{name: getattr(args, name) for name in _DEFAULTS if getattr(args, name) is not None})
    if options.version:
        return options, warnings
    if options.model_config_file and (options.model_base_path or options.model_name):
        raise OptionsError("give either --model_config_file or --model_name/--model_base_path, not both")
    if not options.model_config_file and not options.model_base_path:
        raise OptionsError("nothing to serve: give --model_base_path=<folder of versions> or --model_config_file")
    if options.batching_parameters_file and not options.enable_batching:
        raise OptionsError("--batching_parameters_file needs --enable_batching")
    for name in ("port", "rest_api_port"):
        if not 0 <= getattr(options, name) <= 65535:
            raise OptionsError(f"--{name}={getattr(options, name)} is not a port number (0-65535)")
    if options.port == 0 and not options.grpc_socket_path:
        raise OptionsError("--port=0 with no --grpc_socket_path: gRPC needs a port (TF Serving's default is 8500)")
    if options.port and options.port == options.rest_api_port:
        raise OptionsError(f"--port and --rest_api_port are both {options.port}; use two different ports")
    for name in ("model_config_file", "monitoring_config_file", "batching_parameters_file"):
        path = getattr(options, name)
        if path and not os.path.isfile(path):
            raise OptionsError(f"--{name}={path}: no such file")
    if options.rest_api_timeout_in_ms < 0 or options.rest_api_max_request_bytes <= 0:
        raise OptionsError("--rest_api_timeout_in_ms cannot be negative; --rest_api_max_request_bytes must be positive")
    if options.decode_allowance_bytes < 0 or options.rest_api_read_timeout_in_ms <= 0:
        raise OptionsError("--decode_allowance_bytes cannot be negative, --rest_api_read_timeout_in_ms must be > 0")
    if options.shadow_queue_size < 1:
        raise OptionsError("--shadow_queue_size must be at least 1")
    if options.rest_api_num_threads < 1:
        raise OptionsError("--rest_api_num_threads must be at least 1")
    grpc_arguments(options)
    return options, warnings


def grpc_arguments(options: ServerOptions) -> list[tuple[str, object]]:
    """--grpc_channel_arguments as gRPC server options: `name=value,...`, numbers as integers."""
    arguments = []
    for item in filter(None, (part.strip() for part in options.grpc_channel_arguments.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise OptionsError(f"--grpc_channel_arguments: '{item}' is not name=value")
        arguments.append((name, int(value) if value.lstrip("-").isdigit() else value))
    return arguments


def explicit_tf_serving_flags(args: argparse.Namespace) -> list[str]:
    """The TF Serving flags the user gave, as `--name=value`, for running the real binary."""
    flags = []
    for name in (*TF_SERVING_FLAGS, *IGNORED_FLAGS, *REFUSED_FLAGS):
        value = getattr(args, name, None)
        if value is not None:
            flags.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    return flags
