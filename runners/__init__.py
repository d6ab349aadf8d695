"""Runners at the edge, as in the TFX templates: they know the platform, `pipeline/` knows the topology.

`runners.local` runs the pipeline on this machine (LocalDagRunner, Beam's DirectRunner, ML Metadata in SQLite or a
team's MySQL/MariaDB or PostgreSQL, monitoring/connection.py), with progress, crash recovery, a workspace lock and
disk errors in one line; `runners.kubeflow` compiles it to a KFP v2 spec that the open-source backend accepts and
submits it. The `kfx` CLI parses arguments, calls these and prints.
"""
