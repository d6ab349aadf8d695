"""The local runner: `run()` validates the inputs, runs the pipeline with LocalDagRunner and reads the run back."""
