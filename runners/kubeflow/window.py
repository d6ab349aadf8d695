"""Adds the task that resolves the window of spans at run time to a compiled spec, and wires it into ExampleGen.

Open-source KFP never runs ExampleGen's driver, and its cache key covers input parameters, input artifact names and
the command, not the data. So a recurring run with the data root compiled in would be cached forever and never read
a new span. The task added here (`python -m components.window_example_gen.resolve`, never cached) lists the spans
when the run starts and passes WindowExampleGen its `custom_config` as a task output parameter: the newest span and
a fingerprint of the files. New or changed data changes that value, hence the cache key; unchanged data reuses every
task.
"""

from typing import Any

RESOLVER = "resolve-data-window"
EXAMPLE_GEN_TASK = "WindowExampleGen"
OUTPUT = "custom_config"


def add_window_resolver(spec: dict[str, Any], image: str, data_path: str, window: int) -> None:
    """Edits the PipelineSpec dict in place."""
    tasks = spec["root"]["dag"]["tasks"]
    example_gen = tasks[EXAMPLE_GEN_TASK]
    component, executor = f"comp-{RESOLVER}", f"exec-{RESOLVER}"
    spec["components"][component] = {
        "executorLabel": executor,
        "outputDefinitions": {"parameters": {OUTPUT: {"parameterType": "STRING"}}},
    }
    spec["deploymentSpec"]["executors"][executor] = {
        "container": {
            "image": image,
            "command": ["python", "-m", "components.window_example_gen.resolve"],
            "args": [
                "--data-path", data_path,
                "--window", str(window),
                "--output-file", f"{{{{$.outputs.parameters['{OUTPUT}'].output_file}}}}",
            ],
        }
    }  # fmt: skip
    # No cachingOptions: the task runs in every run, so new data is always seen.
    tasks[RESOLVER] = {"componentRef": {"name": component}, "taskInfo": {"name": RESOLVER}}
    example_gen["inputs"]["parameters"][OUTPUT] = {
        "taskOutputParameter": {"producerTask": RESOLVER, "outputParameterKey": OUTPUT}
    }
    example_gen["dependentTasks"] = sorted({*example_gen.get("dependentTasks", []), RESOLVER})
