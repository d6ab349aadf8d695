"""`kfx promote` and `kfx rollback`: move a version label of the served model (serving.labels)."""

import argparse
import os
import sys

from kfx import options, serve_cmd
from pipeline.config import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx promote` and `kfx rollback`."""
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
                         f"<serving dir>/{serve_cmd.MODEL_CONFIG_FILE})")  # fmt: skip
        sub.add_argument("--grpc-address", default="localhost:8500", help="running server to reload "
                         "(default localhost:8500); nothing is sent if none answers")  # fmt: skip
        serve_cmd.add_project_flags(sub)
        sub.set_defaults(func=run_label_move)


def run_label_move(args: argparse.Namespace) -> int:
    """Plans the move (exit 2 if it cannot be done), applies it (exit 1 if the server refuses) and says what moved."""
    options.quiet_tensorflow()
    from serving import labels

    try:
        model = serve_cmd.model_name(args)
        path = args.model_config_file or os.path.join(serve_cmd.serving_dir(args), serve_cmd.MODEL_CONFIG_FILE)
        base = os.path.join(serve_cmd.serving_dir(args), model)
        if args.command == "promote":
            plan = labels.promotion(path, model, base, args.version, args.label)
        else:
            plan = labels.rollback(path, model, base, args.label)
    except (ConfigError, labels.LabelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    try:
        live = labels.apply_plan(plan, args.grpc_address)
    except labels.LabelError as error:
        print(f"error: {error}; label '{args.label}' and {path} are unchanged", file=sys.stderr)
        return options.EXIT_FAILED
    before = plan.before if plan.before is not None else "(none)"
    print(f"{model}: label '{args.label}' {before} -> {plan.after}; wrote {path}")
    if live:
        print(f"the server at {args.grpc_address} reloaded it")
    else:
        print(f"no server answered at {args.grpc_address}: the change applies when a server starts with "
              f"--model_config_file={path} (kfx serve uses it by default)")  # fmt: skip
    return 0
