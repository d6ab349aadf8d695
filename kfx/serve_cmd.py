"""`kfx serve`: the model server (serving.launch) with the project's defaults.

The server is the `serving` package's; this adds what the project knows: the model name from the pipeline
configuration and the folder the Pusher writes to (`<workspace>/serving_model/<model name>/<version>/`), or the model
config file `kfx promote` wrote there with the routing file next to it (canary weight, shadow sample), and the
Prometheus page on (`kfx rollout status` reads errors and latency from it) unless a monitoring config is given.
"""

import argparse
import os
import sys
import tempfile

from kfx import options
from pipeline import config as config_lib
from serving import launch, routing
from serving import options as server_options

MODEL_CONFIG_FILE = "models.config"  # written by `kfx promote` next to the pushed models
ROUTING_FILE = routing.FILE_NAME  # next to models.config
PROMETHEUS_CONFIG = "prometheus_config { enable: true }\n"  # at TF Serving's /monitoring/prometheus/metrics


def add_project_flags(parser: argparse.ArgumentParser) -> None:
    """--config (for the model name), --workspace and --serving-dir (where the pushed models are)."""
    options.add_config(parser, "for the model name")
    options.add_workspace(parser, serving_dir=True)


def serving_dir(args: argparse.Namespace) -> str:
    """The base folder of the pushed models: --serving-dir, else <workspace>/serving_model."""
    return options.workspace(args).serving_dir


def model_name(args: argparse.Namespace) -> str:
    """--model if the command has it and it was given, else serving.model_name of the configuration."""
    return getattr(args, "model", None) or config_lib.load(args.config).serving.model_name


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx serve`."""
    serve = commands.add_parser(
        "serve",
        help="serve pushed models over TF Serving's gRPC (8500) and REST (8501) APIs",
        description="Runs tensorflow_model_server when it is on PATH, else the built-in TF-Serving-compatible "
        "server, with TF Serving's own flags. With no model flags it serves the newest pushed version of the "
        f"configured model (or the versions and labels of <serving dir>/{MODEL_CONFIG_FILE} once `kfx promote` "
        f"wrote it, routed by <serving dir>/{ROUTING_FILE}). Prometheus metrics are on unless "
        "--monitoring_config_file is given.",
    )
    add_project_flags(serve)
    launch.add_server_choice(serve)
    server_options.add_flags(serve)
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Fills in the model to serve when no model flag names one, then runs the server until it is stopped."""
    launch.configure_logging()
    if not args.model_config_file and not args.model_base_path:
        name = args.model_name or model_name(args)
        written = os.path.join(serving_dir(args), MODEL_CONFIG_FILE)
        if os.path.isfile(written) and not args.model_name:
            print(f"using {written} (written by kfx promote)", flush=True)
            args.model_config_file = written
        else:
            from serving import versions  # imports TensorFlow

            base = os.path.join(serving_dir(args), name)
            if versions.latest_complete_version(base) is None:
                print(f"error: no pushed model under {base}: run `make run` (or `kfx run`) first, "
                      "or pass --model_base_path", file=sys.stderr)  # fmt: skip
                return options.EXIT_BAD_INPUT
            args.model_name, args.model_base_path = name, base
    routing_file = os.path.join(serving_dir(args), ROUTING_FILE)
    serves_written_config = args.model_config_file == os.path.join(serving_dir(args), MODEL_CONFIG_FILE)
    if not args.routing_config_file and (serves_written_config or os.path.isfile(routing_file)):
        args.routing_config_file = routing_file
    if not args.monitoring_config_file:
        args.monitoring_config_file = prometheus_config()
    return launch.launch(args)


def prometheus_config() -> str:
    """A monitoring config that turns TF Serving's Prometheus page on, written once (atomically) to a temp folder."""
    path = os.path.join(tempfile.gettempdir(), f"kfx-serve-monitoring-{os.getuid()}.config")
    if not os.path.isfile(path):
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w") as f:
            f.write(PROMETHEUS_CONFIG)
        os.replace(temporary, path)
    return path
