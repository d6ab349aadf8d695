"""The verdict that opens the run report: blessed or not, the pushed version, the key metric with its confidence
interval against the served model, and any gate that stopped the run."""

import dataclasses

from monitoring import comparison as comparison_lib
from monitoring import summary as summary_lib

# What each gate's failure means, in the report's words (any other failed node: see the run log).
_GATES = {
    "DataGate": "the data does not match the schema (see Validation)",
    "DriftStop": "the newest span drifted past a blocking threshold (see Drift)",  # DriftGate records, it stops
    "DriftGate": "the drift check itself failed (see the run log)",
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The report's first lines."""

    outcome: str  # e.g. "Pushed version 1796461865", "Not blessed", "Stopped at DriftGate"
    tone: str  # ok, bad or warn: the headline's colour
    blessing: str  # blessed or not, and why
    comparison: str  # the AUC against the served model with its interval, or why there is none
    stopped: list[str]  # "<gate>: what stopped the run", for each failed node


def of(summary: summary_lib.RunSummary) -> Verdict:
    """The verdict of the run `summary` describes."""
    failed = [node for node, state in summary.states.items() if state == "FAILED"]
    stopped = [f"{node}: {_GATES.get(node, 'failed (see the run log)')}" for node in failed]
    comparison = comparison_lib.headline(summary.comparison) or (
        "nothing was served yet: the thresholds alone decided"
        if summary.blessed is not None
        else "no comparison: the Evaluator did not run"
    )
    if failed:
        outcome, tone = f"Stopped at {', '.join(failed)}: nothing was pushed", "bad"
    elif summary.pushed_version:
        outcome, tone = f"Pushed version {summary.pushed_version}", "ok"
    elif summary.identical_to_version is not None:
        outcome = f"Not pushed: version {summary.identical_to_version} already holds this model"
        tone = "ok"
    elif summary.blessed is False:
        outcome, tone = "Not blessed: the served model stays", "warn"
    else:
        outcome, tone = "Not evaluated: the Evaluator did not run", "warn"
    return Verdict(outcome, tone, summary_lib.blessing_text(summary), comparison, stopped)
