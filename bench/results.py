"""Where `make bench` writes: workspace/bench/<name>.json (all figures) and <name>.md (the table people read)."""

import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_DIR = os.path.join(REPO, "workspace", "bench")


def write(name: str, result: dict, report: str) -> None:
    """Writes the JSON and Markdown results and prints the Markdown."""
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(OUTPUT_DIR, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(OUTPUT_DIR, f"{name}.md"), "w") as f:
        f.write(report)
    print(report)
