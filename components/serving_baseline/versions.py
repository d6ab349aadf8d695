"""Finds the model version TF Serving serves by default: the highest complete `<base>/<integer>/` directory."""

import dataclasses
import os

from tfx.dsl.io import fileio

# Pusher copies saved_model.pb last, so its presence marks a complete version.
_COMPLETE_MARKER = "saved_model.pb"


@dataclasses.dataclass(frozen=True)
class ServedVersion:
    version: int
    path: str


def latest_version(model_base_dir: str) -> ServedVersion | None:
    """Returns the highest integer-named subdirectory holding a complete SavedModel, or None."""
    if not fileio.isdir(model_base_dir):
        return None
    versions = []
    for entry in fileio.listdir(model_base_dir):
        name = entry.rstrip("/")
        path = os.path.join(model_base_dir, name)
        if name.isdigit() and fileio.exists(os.path.join(path, _COMPLETE_MARKER)):
            versions.append(ServedVersion(int(name), path))
    return max(versions, key=lambda v: v.version, default=None)
