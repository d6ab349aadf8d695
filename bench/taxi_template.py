"""The reference for `make bench`: TFX 1.16's own taxi template, run with LocalDagRunner on the same data.

The template ships with its components commented out (`# components.append(...)`, one tutorial step each).
This enables them all, the way a user finishing the tutorial would, in a copy under a temporary folder:
ExampleGen, StatisticsGen, SchemaGen, Transform, Trainer (1,000 steps), Resolver, Evaluator, Pusher.
Usage: python -m bench.taxi_template WORKDIR DATA_DIR
"""

import importlib.util
import os
import re
import sys

import tfx.experimental.templates.taxi.pipeline.pipeline as template_pipeline
from tfx import v1 as tfx

_MODELS = "tfx.experimental.templates.taxi.models"


def load_enabled_template(workdir: str):
    """Copies the template's pipeline.py with every component appended, and imports the copy."""
    with open(template_pipeline.__file__) as f:
        source = f.read()
    enabled, count = re.subn(r"^(\s*)# (components\.append\()", r"\1\2", source, flags=re.MULTILINE)
    if count < 7:
        raise RuntimeError(f"expected the template's commented-out components, found {count}")
    path = os.path.join(workdir, "taxi_template_pipeline.py")
    with open(path, "w") as f:
        f.write(enabled)
    spec = importlib.util.spec_from_file_location("taxi_template_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(workdir: str, data_dir: str) -> None:
    module = load_enabled_template(workdir)
    pipeline = module.create_pipeline(
        pipeline_name="taxi-template",
        pipeline_root=os.path.join(workdir, "pipeline_root"),
        data_path=data_dir,
        preprocessing_fn=f"{_MODELS}.preprocessing.preprocessing_fn",
        run_fn=f"{_MODELS}.keras_model.model.run_fn",
        train_args=tfx.proto.TrainArgs(num_steps=1000),
        eval_args=tfx.proto.EvalArgs(num_steps=150),
        eval_accuracy_threshold=0.6,
        serving_model_dir=os.path.join(workdir, "serving_model"),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(workdir, "metadata.sqlite")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


if __name__ == "__main__":
    main(*sys.argv[1:3])
