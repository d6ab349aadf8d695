"""The configuration file `kfx init` writes: a Proposal as commented YAML that `kfx run` runs as is.

Values are written as JSON scalars and flow lists (JSON is YAML), so column names and label values are always quoted
text, whatever they look like ("2023", "yes", "Sex (M/F)"). The first line points editors' YAML language server at
the project's JSON Schema, `configs/config.schema.json`, by a path relative to the written file (the schema of the
checkout `kfx` runs from, kept current by its tests); a config written elsewhere keeps working without it.
"""

import json
import os

from profiling import proposal as proposal_lib
from profiling import roles as roles_lib

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "config.schema.json")
_WIDTH = 116  # flow lists wrap before this column


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _flow(key: str, values: tuple[str, ...], indent: int = 2) -> list[str]:
    """`key: [a, b, ...]`, wrapped onto continuation lines indented under the key."""
    lines, line = [], f"{' ' * indent}{key}: ["
    for position, value in enumerate(values):
        item = _json(value) + (", " if position < len(values) - 1 else "]")
        if len(line) + len(item.rstrip()) > _WIDTH and not line.endswith("["):
            lines.append(line.rstrip())
            line = " " * (indent + 4)
        line += item
    return [*lines, line if values else f"{' ' * indent}{key}: []"]


def config_text(proposal: proposal_lib.Proposal, output_path: str) -> str:
    """The configuration file's text for `proposal`, to be written at `output_path` (relative paths start there)."""
    folder = os.path.dirname(os.path.abspath(output_path))
    sample, label, profile = proposal.sample, proposal.label, proposal.profile
    data_path = os.path.relpath(sample.data_path, folder)
    lines = [
        f"# yaml-language-server: $schema={os.path.relpath(SCHEMA_PATH, folder)}",
        f"# Written by `kfx init` from {len(sample.frame):,} sampled rows of {data_path}.",
        "# Relative paths are relative to this file. Check it against the data: kfx config check --data --config <it>",
        f"# Quick baseline (gradient-boosted trees on the sample): {proposal.baseline.describe()}"
        if proposal.baseline
        else "# Quick baseline: too few labelled rows for one.",
        "",
        f"pipeline_name: {proposal.pipeline_name}",
        "",
        "data:",
        f"  path: {_json(data_path)}",
        f"  window: {max(sample.spans, 1)}" + ("                          # every span found" if sample.spans else ""),
        f"  delimiter: {_json(sample.dialect.delimiter)}  # {sample.dialect.describe()}",
        f"  encoding: {_json('utf-8' if sample.dialect.encoding == 'utf-8-sig' else sample.dialect.encoding)}",
        "  split: {train: 4, eval: 1}          # hash split of the rows: 80% train, 20% eval",
        "  # No schema: the run validates against the schema TFDV infers from the data.",
    ]
    if proposal.missing_values is not None:
        lines += [
            "  # pandas' NA strings plus the punctuation found among numbers",
            *_flow("missing_values", proposal.missing_values),
        ]
    if proposal.max_missing_label_fraction is not None:
        lines.append(
            f"  max_missing_label_fraction: {proposal.max_missing_label_fraction}   # the sample's share, and some"
        )
    lines += [
        "",
        f"label:                               # {label.reason}",
        f"  name: {label.name}",
        f"  column: {_json(label.column)}",
    ]
    if label.greater_than is not None:
        lines.append(f"  greater_than: {float(label.greater_than)!r}")
    else:
        lines += [*_flow("one_of", label.one_of), *_flow("negative", label.negative)]
        if label.fold_case:
            lines.append(
                "  fold_case: true                    # 'Male ' and 'male' are 'MALE': case and spaces ignored"
            )
        lines.append(
            f"  other: {label.other}"
            + (
                "                        # a value in neither list stops the run"
                if label.other == "stop"
                else "   # rows of other values are left out"
            )
        )
    lines += ["", "features:"]
    for role, what in (
        (roles_lib.NUMERIC, "z-scored and quantile-bucketized"),
        (roles_lib.BUCKETIZED, "quantile buckets (coordinates)"),
        (roles_lib.CATEGORICAL, "vocabularies"),
    ):
        if profile.columns(role):
            lines += [f"  # {what}", *_flow(role, profile.columns(role))]
    left_out = [r for r in profile.roles if r.role == roles_lib.LEFT_OUT]
    if left_out:
        lines.append("  # left out:")
        lines += [f"  #   {_json(r.column)}: {r.reason}" for r in left_out]
    lines += [
        "",
        "training:                            # every other key: its default (kfx config schema)",
        "  train_steps: 2000                  # upper bound; early stopping on eval AUC usually ends sooner",
        "  seed: 42",
        "",
        "evaluation:",
        *_flow("slices", proposal.slices),
        "  thresholds:                        # below any of them the model is not pushed",
        f"    auc: {proposal.auc_threshold}                        # {proposal.threshold_reason()}",
        "  comparison: {policy: non_inferiority, margin: 0.01}   # against the model served, once there is one",
        "",
        "serving:",
        f"  model_name: {_json(proposal.model_name)}",
        "",
    ]
    return "\n".join(lines)
