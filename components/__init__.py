"""Custom TFX components, one package each."""


def __getattr__(name: str) -> type:
    """`components.DriftReport`, imported when first asked for (it brings TFX): on Kubeflow, TFX's entrypoint imports
    a custom artifact type by its TYPE_NAME, which KFP's schema-title rule limits to `<top-level module>.<class>`."""
    if name == "DriftReport":
        from components.drift_gate.component import DriftReport

        return DriftReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
