"""`kfx serve`, `kfx promote`, `kfx rollback`: the model server and label moves, with the project's defaults.

The work is done by the `serving` package; this adds what the project knows: the model name from the pipeline
configuration and the folder the Pusher writes to (`<workspace>/serving_model/<model name>/<version>/`).
"""

import argparse
import os
import sys

from kfx.defaults import DEFAULT_CONFIG, EXIT_BAD_INPUT, EXIT_FAILED
from pipeline import config as config_lib
from serving import launch
from serving import options as server_options

MODEL_CONFIG_FILE = "models.config"  # written by `kfx promote` next to the pushed models


def add_project_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("KFX_CONFIG", DEFAULT_CONFIG),
        help=f"pipeline configuration, for the model name (env KFX_CONFIG; default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--serving-dir",
        default=os.environ.get("KFX_SERVING_DIR"),
        help="folder the Pusher writes <model name>/<version>/ to (env KFX_SERVING_DIR; default "
        "<workspace>/serving_model)",
    )
    parser.add_argument(
        "--workspace",
        default=os.environ.get("KFX_WORKSPACE", "workspace"),
        help="workspace of `kfx run` (env KFX_WORKSPACE; default ./workspace)",
    )


def _serving_dir(args: argparse.Namespace) -> str:
    return os.path.abspath(args.serving_dir or os.path.join(args.workspace, "serving_model"))


def _model_name(args: argparse.Namespace) -> str:
    return getattr(args, "model", None) or config_lib.load(args.config).serving.model_name


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx serve`, `kfx promote` and `kfx rollback`."""
    serve = commands.add_parser(
        "serve",
        help="serve pushed models over TF Serving's gRPC (8500) and REST (8501) APIs",
        description="Runs tensorflow_model_server when it is on PATH, else the built-in TF-Serving-compatible "
        "server, with TF Serving's own flags. With no model flags it serves the newest pushed version of the "
        "configured model (or the versions and labels of <serving dir>/models.config once `kfx promote` wrote it).",
    )
    add_project_flags(serve)
    launch.add_server_choice(serve)
    server_options.add_flags(serve)
    serve.set_defaults(func=run_serve)

    for name, helper in (("promote", "point a label at a pushed version"), ("rollback", "move a label back")):
        sub = commands.add_parser(
            name,
            help=f"{helper} (rewrites the model config; a running server picks it up)",
            description="Rewrites the TF Serving model config (default <serving dir>/models.config) atomically and, "
            "if a server answers at --grpc-address, reloads it through ModelService.HandleReloadConfigRequest: "
            "first adding the version, then, once it is AVAILABLE, moving the label.",
        )
        if name == "promote":
            sub.add_argument("version", help="pushed version (a folder name under the model's folder) or 'latest'")
        sub.add_argument("--label", default="stable", help="version label to move (default stable)")
        sub.add_argument("--model", help="model name (default serving.model_name of the configuration)")
        sub.add_argument("--model_config_file", help="TF Serving model config to rewrite (default "
                         f"<serving dir>/{MODEL_CONFIG_FILE})")  # fmt: skip
        sub.add_argument("--grpc-address", default="localhost:8500", help="running server to reload "
                         "(default localhost:8500); nothing is sent if none answers")  # fmt: skip
        add_project_flags(sub)
        sub.set_defaults(func=run_promote if name == "promote" else run_rollback)


def run_serve(args: argparse.Namespace) -> int:
    launch.quiet_tensorflow()
    if not args.model_config_file and not args.model_base_path:
        try:
            name = args.model_name or _model_name(args)
        except config_lib.ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        written = os.path.join(_serving_dir(args), MODEL_CONFIG_FILE)
        if os.path.isfile(written) and not args.model_name:
            print(f"using {written} (written by kfx promote)", flush=True)
            args.model_config_file = written
        else:
            base = os.path.join(_serving_dir(args), name)
            if not any(entry.isdigit() for entry in (os.listdir(base) if os.path.isdir(base) else [])):
                print(f"error: no pushed model under {base}: run `make run` (or `kfx run`) first, "
                      "or pass --model_base_path", file=sys.stderr)  # fmt: skip
                return EXIT_BAD_INPUT
            args.model_name, args.model_base_path = name, base
    return launch.launch(args)


def _rollout_target(args: argparse.Namespace):
    """(model name, model config path, loaded or initial config, history)."""
    from serving import rollout

    model = _model_name(args)
    path = args.model_config_file or os.path.join(_serving_dir(args), MODEL_CONFIG_FILE)
    if os.path.exists(path):
        config = rollout.load(path)
    else:
        config = rollout.initial_config(model, os.path.join(_serving_dir(args), model))
    return model, path, config, rollout.read_history(path)


def _report(model: str, label: str, moved: tuple, path: str, live: bool, address: str) -> None:
    before, after = moved
    print(f"{model}: label '{label}' {before if before is not None else '(none)'} -> {after}; wrote {path}")
    if live:
        print(f"the server at {address} reloaded it")
    else:
        print(f"no server answered at {address}: the change applies when a server starts with "
              f"--model_config_file={path} (kfx serve uses it by default)")  # fmt: skip


def run_promote(args: argparse.Namespace) -> int:
    launch.quiet_tensorflow()
    from serving import rollout, versions

    try:
        model, path, config, history = _rollout_target(args)
        served = rollout.model_config(config, model)
        version_text = args.version
        if version_text == "latest":
            found = versions.versions_on_disk(served.base_path)
            if not found:
                raise rollout.RolloutError(f"no pushed version under {served.base_path}: run `kfx run` first")
            version_text = str(max(found))
        if not version_text.isdigit():
            raise rollout.RolloutError(f"version '{args.version}' is not a version number (or 'latest')")
        version, before = int(version_text), served.version_labels.get(args.label)
        adding, final, history = rollout.plan_promotion(config, history, model, version, args.label)
    except (config_lib.ConfigError, rollout.RolloutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        live = rollout.apply(path, [adding, final], history, args.grpc_address, model, version)
    except rollout.RolloutError as error:
        print(f"error: {error}; label '{args.label}' and {path} are unchanged", file=sys.stderr)
        return EXIT_FAILED
    _report(model, args.label, (before, version), path, live, args.grpc_address)
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    launch.quiet_tensorflow()
    from serving import rollout

    try:
        model, path, config, history = _rollout_target(args)
        final, history, moved = rollout.plan_rollback(config, history, model, args.label)
    except (config_lib.ConfigError, rollout.RolloutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        live = rollout.apply(path, [final], history, args.grpc_address, model, moved[1])
    except rollout.RolloutError as error:
        print(f"error: {error}; label '{args.label}' and {path} are unchanged", file=sys.stderr)
        return EXIT_FAILED
    _report(model, args.label, moved, path, live, args.grpc_address)
    return 0
