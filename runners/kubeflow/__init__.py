"""The Kubeflow runner: compile the pipeline (and the skew monitor) to KFP v2 specs, submit them with kfp.Client."""
