"""Adds the task that resolves the window of spans at run time to a compiled spec, and wires it into ExampleGen and
the DriftGate.

Open-source KFP never runs ExampleGen's driver, and its cache key covers input parameters, input artifact names and
the command, not the data. So a recurring run with the data root compiled in would be cached forever and never read
a new span. The task added here (`python -m components.window_example_gen.resolve`, never cached) lists the spans
when the run starts, reads the drift verdicts of earlier runs from KFP's ML Metadata (spans rejected are left out,
the reference is the last span that passed: components/drift_gate/ledger.py), and passes WindowExampleGen its
`custom_config` as a task output parameter: the newest span, the spans left out, the reference and a fingerprint of
the files. New or changed data, or a new verdict, changes that value, hence the cache key; unchanged data reuses
every task. It also passes the DriftGate its `acceptance`: the pipeline parameter `accept_drift` (who accepts the
newest span's drift, e.g. `kfx submit --param accept_drift=alice`), or an acceptance recorded for the same files.
"""

from typing import Any

RESOLVER = "resolve-data-window"
EXAMPLE_GEN_TASK, DRIFT_GATE_TASK = "WindowExampleGen", "DriftGate"
OUTPUT, ACCEPTANCE_OUTPUT = "custom_config", "drift_acceptance"
ACCEPT_PARAMETER = "accept_drift"  # the pipeline's run-time parameter; "" accepts nothing
DRIFT_GATE_ACCEPTANCE = "acceptance"  # DriftGate's execution parameter (components/drift_gate/executor.py)


def add_window_resolver(
    spec: dict[str, Any], image: str, data_path: str, window: int, pipeline_name: str, metadata: str
) -> None:
    """Edits the PipelineSpec dict in place. `metadata`: grpc://HOST:PORT of KFP's ML Metadata (or a SQLite file)."""
    tasks = spec["root"]["dag"]["tasks"]
    component, executor = f"comp-{RESOLVER}", f"exec-{RESOLVER}"
    spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})[ACCEPT_PARAMETER] = {
        "parameterType": "STRING",
        "defaultValue": "",
        "isOptional": True,
    }
    spec["components"][component] = {
        "executorLabel": executor,
        "inputDefinitions": {"parameters": {ACCEPT_PARAMETER: {"parameterType": "STRING"}}},
        "outputDefinitions": {
            "parameters": {OUTPUT: {"parameterType": "STRING"}, ACCEPTANCE_OUTPUT: {"parameterType": "STRING"}}
        },
    }
    spec["deploymentSpec"]["executors"][executor] = {
        "container": {
            "image": image,
            "command": ["python", "-m", "components.window_example_gen.resolve"],
            "args": [
                "--data-path", data_path,
                "--window", str(window),
                "--pipeline-name", pipeline_name,
                "--metadata", metadata,
                "--accept-drift", f"{{{{$.inputs.parameters['{ACCEPT_PARAMETER}']}}}}",
                "--output-file", f"{{{{$.outputs.parameters['{OUTPUT}'].output_file}}}}",
                "--acceptance-file", f"{{{{$.outputs.parameters['{ACCEPTANCE_OUTPUT}'].output_file}}}}",
            ],
        }
    }  # fmt: skip
    # No cachingOptions: the task runs in every run, so new data and new verdicts are always seen.
    tasks[RESOLVER] = {
        "componentRef": {"name": component},
        "taskInfo": {"name": RESOLVER},
        "inputs": {"parameters": {ACCEPT_PARAMETER: {"componentInputParameter": ACCEPT_PARAMETER}}},
    }
    for task, key, output in (
        (EXAMPLE_GEN_TASK, OUTPUT, OUTPUT),
        (DRIFT_GATE_TASK, DRIFT_GATE_ACCEPTANCE, ACCEPTANCE_OUTPUT),
    ):
        tasks[task]["inputs"]["parameters"][key] = {
            "taskOutputParameter": {"producerTask": RESOLVER, "outputParameterKey": output}
        }
        tasks[task]["dependentTasks"] = sorted({*tasks[task].get("dependentTasks", []), RESOLVER})
