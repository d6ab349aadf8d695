"""TF Serving's configuration files: the model config (`model_config_list`), monitoring and batching parameters.

The model config uses the `ModelServerConfig` proto shipped in tensorflow-serving-api. `MonitoringConfig` and
`BatchingParameters` are not in that package, so their messages are built here from TF Serving's .proto definitions
(config/monitoring_config.proto, servables/tensorflow/session_bundle_config.proto), field for field; text files
written for TF Serving parse the same way, and unknown fields are refused the same way.
"""

import os

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.options import ServerOptions

DEFAULT_MODEL_NAME = "default"  # TF Serving's --model_name default
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
REQUEST_LOG_COLLECTOR = "tfrecord"  # the log collector type this server registers (see request_log.py)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the problem."""


def _build_messages() -> dict[str, type]:
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="kfx_serving/tf_serving_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )

    def message(name: str, fields: list[tuple[str, int, int, str | None, int]]) -> None:
        descriptor = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, label in fields:
            added = descriptor.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    int64, string, boolean = ".google.protobuf.Int64Value", ".google.protobuf.StringValue", ".google.protobuf.BoolValue"
    prometheus = ".tensorflow.serving.PrometheusConfig"
    message(
        "PrometheusConfig",
        [("enable", 1, field.TYPE_BOOL, None, optional), ("path", 2, field.TYPE_STRING, None, optional)],
    )
    message("MonitoringConfig", [("prometheus_config", 1, field.TYPE_MESSAGE, prometheus, optional)])
    message(
        "BatchingParameters",
        [
            ("max_batch_size", 1, field.TYPE_MESSAGE, int64, optional),
            ("batch_timeout_micros", 2, field.TYPE_MESSAGE, int64, optional),
            ("max_enqueued_batches", 3, field.TYPE_MESSAGE, int64, optional),
            ("num_batch_threads", 4, field.TYPE_MESSAGE, int64, optional),
            ("thread_pool_name", 5, field.TYPE_MESSAGE, string, optional),
            ("allowed_batch_sizes", 6, field.TYPE_INT64, None, repeated),
            ("pad_variable_length_inputs", 7, field.TYPE_BOOL, None, optional),
            ("enable_large_batch_splitting", 8, field.TYPE_MESSAGE, boolean, optional),
            ("max_execution_batch_size", 9, field.TYPE_MESSAGE, int64, optional),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    factory = message_factory.MessageFactory(pool)
    names = ("PrometheusConfig", "MonitoringConfig", "BatchingParameters")
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(f"tensorflow.serving.{name}")) for name in names}


_MESSAGES = _build_messages()
MonitoringConfig = _MESSAGES["MonitoringConfig"]
BatchingParameters = _MESSAGES["BatchingParameters"]


def _parse_text_file(path: str, message):
    try:
        with open(path) as f:
            return text_format.Parse(f.read(), message)
    except text_format.ParseError as error:
        raise ConfigError(f"{path}: {error} (expected a text-format {message.DESCRIPTOR.name})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None


def read_model_config_file(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses and checks a model config file; relative base paths are kept as written (TF Serving's behaviour)."""
    config = _parse_text_file(path, model_server_config_pb2.ModelServerConfig())
    check_model_server_config(config, path)
    return config


def model_server_config(options: ServerOptions) -> model_server_config_pb2.ModelServerConfig:
    """The models to serve: the config file, or one model from --model_name/--model_base_path."""
    if options.model_config_file:
        return read_model_config_file(options.model_config_file)
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name=options.model_name or DEFAULT_MODEL_NAME, base_path=options.model_base_path, model_platform="tensorflow"
    )
    model.model_version_policy.latest.num_versions = 1
    check_model_server_config(config, "--model_base_path")
    return config


def check_model_server_config(config: model_server_config_pb2.ModelServerConfig, source: str) -> None:
    """Refuses what TF Serving refuses, and request logs of a collector type no server registers."""
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source}: only model_config_list is supported (custom_model_config is not)")
    names = set()
    for model in config.model_config_list.config:
        where = f"{source}: model '{model.name}'"
        if not model.name:
            raise ConfigError(f"{source}: every model config needs a name")
        if "/" in model.name or model.name in (".", ".."):
            raise ConfigError(f"{where}: a model name cannot contain '/'")
        if model.name in names:
            raise ConfigError(f"{where} is configured twice")
        names.add(model.name)
        if not model.base_path:
            raise ConfigError(f"{where} has no base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{where}: model_platform '{model.model_platform}' is not served here (use tensorflow)")
        policy = model.model_version_policy
        if policy.WhichOneof("policy_choice") == "latest" and policy.latest.num_versions < 0:
            raise ConfigError(f"{where}: latest.num_versions must be at least 1")
        if policy.WhichOneof("policy_choice") == "specific" and not policy.specific.versions:
            raise ConfigError(f"{where}: specific policy lists no versions")
        if model.HasField("logging_config"):
            collector = model.logging_config.log_collector_config
            rate = model.logging_config.sampling_config.sampling_rate
            if collector.type != REQUEST_LOG_COLLECTOR:
                raise ConfigError(
                    f"{where}: log_collector_config type '{collector.type}' is not registered; "
                    f"this server registers '{REQUEST_LOG_COLLECTOR}' (PredictionLog TFRecord files)"
                )
            if not collector.filename_prefix:
                raise ConfigError(f"{where}: log_collector_config needs a filename_prefix (folder and file prefix)")
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{where}: sampling_rate must be between 0 and 1, got {rate}")


def monitoring_path(options: ServerOptions) -> str | None:
    """The Prometheus path when monitoring is enabled, else None."""
    if not options.monitoring_config_file:
        return None
    config = _parse_text_file(options.monitoring_config_file, MonitoringConfig())
    if not config.prometheus_config.enable:
        return None
    path = config.prometheus_config.path or PROMETHEUS_PATH
    if not path.startswith("/") or path.startswith("/v1/"):
        raise ConfigError(f"{options.monitoring_config_file}: prometheus path '{path}' must start with / and not /v1/")
    return path


def batching_parameters(options: ServerOptions):
    """TF Serving's defaults for --enable_batching without a file: SharedBatchScheduler's queue options."""
    params = BatchingParameters()
    if options.batching_parameters_file:
        params = _parse_text_file(options.batching_parameters_file, params)
    defaults = {"max_batch_size": 1000, "batch_timeout_micros": 0, "max_enqueued_batches": 10}
    defaults["num_batch_threads"] = len(os.sched_getaffinity(0))
    for name, value in defaults.items():
        if not params.HasField(name):
            getattr(params, name).value = value
    where = options.batching_parameters_file or "batching parameters"
    for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
        if getattr(params, name).value < 1:
            raise ConfigError(f"{where}: {name} must be at least 1")
    if params.batch_timeout_micros.value < 0:
        raise ConfigError(f"{where}: batch_timeout_micros cannot be negative")
    if params.allowed_batch_sizes and params.allowed_batch_sizes[-1] != params.max_batch_size.value:
        raise ConfigError(
            f"{where}: Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
            f"{params.allowed_batch_sizes[-1]}; expected {params.max_batch_size.value}"
        )
    return params
