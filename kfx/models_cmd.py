"""`kfx models`: every pushed version with its run, data, metrics, blessing, labels and server state
(monitoring.registry)."""

import argparse
import json
import os
import sys

from kfx import options, serve_cmd


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx models`."""
    models = commands.add_parser(
        "models",
        help="list every pushed version: run, spans, metrics, blessing, labels, label history, server state",
        description="Reads the pushed versions from ML Metadata (run, spans, data fingerprint, blessing and why, "
        f"rollout decisions), their labels and label history from <serving dir>/{serve_cmd.MODEL_CONFIG_FILE} "
        "(written by `kfx promote` and `kfx rollout`), the metrics from the runs' summaries, and, with --address, "
        "which versions a running server has loaded (its model status API). Nothing is written but --html.",
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of text")
    models.add_argument("--html", metavar="FILE", help="also write the list as a self-contained HTML page")
    models.add_argument("--address", metavar="HOST:PORT", help="ask this server which versions it has loaded")
    models.add_argument("--protocol", choices=("grpc", "rest"), default="grpc",
                        help="the API --address speaks (default grpc, port 8500; rest is 8501)")  # fmt: skip
    models.add_argument("--model_config_file", help="model config with the labels (default "
                        f"<serving dir>/{serve_cmd.MODEL_CONFIG_FILE})")  # fmt: skip
    options.add_workspace(models, serving_dir=True)
    models.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    """Prints the versions (and writes --html); exit 2 without ML Metadata or with an unreadable model config."""
    options.quiet_tensorflow()
    from monitoring import registry, store

    try:
        workspace = options.workspace(args)
        model_config = args.model_config_file or os.path.join(workspace.serving_dir, serve_cmd.MODEL_CONFIG_FILE)
        metadata = options.read_metadata(args)
        found = registry.collect(metadata, workspace.logs_dir, model_config, args.address, args.protocol)
    except (FileNotFoundError, store.MetadataUnavailable, registry.RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return options.EXIT_BAD_INPUT
    print(json.dumps(found.to_dict(), indent=2) if args.json else registry.format_registry(found))
    if args.html:
        print(f"wrote {registry.write_html(found, args.html)}", file=sys.stderr if args.json else sys.stdout)
    return 0
