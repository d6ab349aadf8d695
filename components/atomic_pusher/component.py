"""Pusher: TFX's Pusher component whose executor publishes a version folder atomically (see publish.py)."""

from tfx.components.pusher import component as pusher_component
from tfx.dsl.components.base import executor_spec

from components.atomic_pusher import executor


class Pusher(pusher_component.Pusher):
    """TFX's Pusher (same inputs, outputs and node id), except that TF Serving never sees a partial version."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
