"""The Kubeflow task that resolves the window when the pipeline runs, before WindowExampleGen.

`python -m components.window_example_gen.resolve --data-path gs://b/data --window 4 --output-file F` writes
WindowExampleGen's `custom_config` for this run: the data path, the window, the newest span found now, and a
fingerprint of the window's files. KFP's cache key includes input parameter values, so WindowExampleGen (and all
that follows) is reused when no span was added or changed, and runs again when one was. This task is never cached.
"""

import argparse
import os
import sys

from google.protobuf import json_format

from components.window_example_gen import executor
from components.window_example_gen import window as window_lib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--output-file", required=True, help="KFP output parameter file")
    args = parser.parse_args(argv)
    try:
        window = window_lib.resolve(args.data_path, args.window)
    except window_lib.WindowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    settings = {
        executor.DATA_PATH_KEY: args.data_path,
        executor.WINDOW_KEY: args.window,
        executor.SPAN_KEY: window.newest,
        "resolved_spans": list(window.spans),
        "fingerprint": window.fingerprint(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output_file)), exist_ok=True)
    with open(args.output_file, "w") as f:
        f.write(json_format.MessageToJson(executor.custom_config(settings), sort_keys=True))
    print(f"window: spans {list(window.spans)} of {list(window.available)} under {args.data_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
