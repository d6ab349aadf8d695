"""Starts a model server from TF Serving flags: the real `tensorflow_model_server` when there is one, else ours.

`python -m serving --model_base_path=... ` runs this directly; `kfx serve` fills in the project's defaults first.
Either way the model, its versions and both addresses are printed once the model is AVAILABLE.
"""

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from typing import TextIO

from serving import options as options_lib

BINARY = "tensorflow_model_server"
BUILTIN = "builtin"


def configure_logging() -> None:
    """The server's log on stderr, without TensorFlow's C++ start-up chatter (call before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)  # google.api_core's Python-version notice
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def add_server_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default="auto",
        help=f"'auto' (default): {BINARY} if it is on PATH, else the built-in server; '{BUILTIN}'; or the path "
        f"or name of a {BINARY} binary (this server only)",
    )


def find_binary(choice: str) -> str | None:
    """The TF Serving binary to run, or None for the built-in server; raises OptionsError for a bad --server."""
    if choice == BUILTIN:
        return None
    if choice == "auto":
        return shutil.which(BINARY)
    found = shutil.which(choice)
    if found is None:
        raise options_lib.OptionsError(f"--server={choice}: not found or not executable (use 'auto' or '{BUILTIN}')")
    return found


def launch(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Runs the chosen server until it stops; 2 for bad flags or config, 1 when the server cannot start."""
    from serving.config import ConfigError, model_server_config
    from serving.routing import RoutingError, read

    try:
        binary = find_binary(args.server)
        if binary:
            return run_binary(binary, args, out)
        options, warnings = options_lib.from_args(args)
        if options.version:
            print(f"TF-Serving-compatible server (kfx serving), TensorFlow {_tensorflow_version()}", file=out)
            return 0
        model_server_config(options)
        if options.routing_config_file:
            read(options.routing_config_file)
    except (options_lib.OptionsError, ConfigError, RoutingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    from serving.server import Server

    try:
        server = Server(options)
    except (ConfigError, RoutingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        code = server.run(out)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Every request is answered and the logs are closed; a model call left running (past a deadline) cannot be
    # cancelled, and a normal exit would wait for it and for TensorFlow's teardown, past --drain_seconds.
    out.flush()
    sys.stderr.flush()
    os._exit(code)


def _configured_models(args: argparse.Namespace) -> list[str]:
    """Model names to wait for, read as TF Serving reads them (the binary itself reports any config error)."""
    from serving.config import ConfigError, read_model_config_file

    if not args.model_config_file:
        return [args.model_name or "default"]
    try:
        return [m.name for m in read_model_config_file(args.model_config_file).model_config_list.config]
    except ConfigError:
        return []


def run_binary(binary: str, args: argparse.Namespace, out: TextIO) -> int:
    """Runs TF Serving itself with the same flags; forwards SIGTERM/SIGINT; returns its exit code."""
    from serving.client import ClientError, GrpcClient

    flags = options_lib.explicit_tf_serving_flags(args)
    ports = {name: getattr(args, name) or options_lib.TF_SERVING_FLAGS[name][1] for name in ("port", "rest_api_port")}
    for name, value in ports.items():  # TF Serving's own rest_api_port default (0) would turn REST off
        if getattr(args, name) is None:
            flags.append(f"--{name}={value}")
    if args.host not in (None, options_lib.OWN_FLAGS["host"][1]):
        print(f"warning: {BINARY} binds every interface; --host applies to the built-in server only", file=sys.stderr)
    print(f"running {binary} {' '.join(flags)}", file=out, flush=True)
    process = subprocess.Popen([binary, *flags])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: process.send_signal(number))
    models = _configured_models(args)
    client = GrpcClient(f"127.0.0.1:{ports['port']}")
    try:
        waiting = set(models)
        while waiting and process.poll() is None:
            for name in list(waiting):
                try:
                    versions = client.available_versions(name)
                except ClientError:
                    continue
                if versions:
                    print(f"serving model '{name}' version {', '.join(map(str, versions))} (AVAILABLE) via {BINARY}",
                          file=out)  # fmt: skip
                    waiting.discard(name)
            time.sleep(0.5)
        if process.poll() is None:
            print(f"  gRPC  127.0.0.1:{ports['port']}", file=out)
            if ports["rest_api_port"] and models:
                print(f"  REST  http://127.0.0.1:{ports['rest_api_port']}/v1/models/{models[0]}", file=out)
            out.flush()
    finally:
        client.close()
    return_code = process.wait()
    if return_code not in (0, -signal.SIGTERM, -signal.SIGINT):
        print(f"error: {BINARY} exited with code {return_code}", file=sys.stderr)
    return 0 if return_code in (-signal.SIGTERM, -signal.SIGINT) else return_code


def _tensorflow_version() -> str:
    import tensorflow as tf

    return tf.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="A TF-Serving-compatible model server (REST and gRPC) taking tensorflow_model_server's flags.",
    )
    options_lib.add_flags(parser)
    add_server_choice(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    return launch(args)
