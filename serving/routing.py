"""The routing file: per model, the canary's share of name-only requests and the shadow's sample (our extension).

TF Serving has no traffic split, and its model config stays untouched: the split lives in a JSON file of our own,
`--routing_config_file` (by default `<serving dir>/routing.json`, next to `models.config`):

    {"models": {"chicago_taxi": {"canary_weight": 0.05, "shadow_sample": 0.0}}}

The server re-reads it in the same poll as the model config file (this file first) and on every
HandleReloadConfigRequest. For a model with an entry, a request that names the model only goes to the `canary`
label's version when bucket("split:" + request id) < canary_weight, else to the `stable` label's version (the newest
without one); when bucket("shadow:" + request id) < shadow_sample, a copy runs on the `shadow` label's version after
the answer. Requests that name a version or a label are never re-routed (serving/router.py applies this). This
module imports no TensorFlow, so writers (`kfx rollout`) stay light. See README "Routes, canary and shadow".
"""

import hashlib
import json
import os
import tempfile

import pydantic

# The route of a request, written to its request log entry (log_metadata.request_criticality) and metrics.
STABLE, CANARY, SHADOW, DIRECT, LATEST = "stable", "canary", "shadow", "direct", "latest"
ROUTES = (STABLE, CANARY, SHADOW, DIRECT, LATEST)
FILE_NAME = "routing.json"  # its default location is next to models.config


class RoutingError(ValueError):
    """A routing file that cannot be used: the message names the file, the key, the value and the fix."""


class ModelRoute(pydantic.BaseModel):
    """How one model's name-only requests are split and shadowed."""

    model_config = pydantic.ConfigDict(extra="forbid")
    canary_weight: float = pydantic.Field(0.0, ge=0.0, le=1.0)
    shadow_sample: float = pydantic.Field(0.0, ge=0.0, le=1.0)


class RoutingConfig(pydantic.BaseModel):
    """Every model's route; a model without an entry is served as TF Serving serves it (the newest version)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    models: dict[str, ModelRoute] = {}


_EXAMPLE = '{"models": {"chicago_taxi": {"canary_weight": 0.05, "shadow_sample": 0.0}}}'
_FIXES = {
    "extra_forbidden": "remove it: a model takes canary_weight and shadow_sample, the file takes models",
    "greater_than_equal": "use a number from 0 to 1 (0.05 is 5%)",
    "less_than_equal": "use a number from 0 to 1 (0.05 is 5%)",
    "float_parsing": "use a number from 0 to 1 (0.05 is 5%)",
    "float_type": "use a number from 0 to 1 (0.05 is 5%)",
    "finite_number": "use a number from 0 to 1 (0.05 is 5%)",
    "dict_type": f"use an object, as in {_EXAMPLE}",
    "model_type": f"use an object, as in {_EXAMPLE}",
}


def parse(text: str, path: str) -> RoutingConfig:
    """The routing config in `text` (read from `path`, which errors name)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RoutingError(f"{path}: not JSON ({error}); write it as {_EXAMPLE}") from None
    try:
        return RoutingConfig.model_validate(document)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(the whole file)"
        fix = _FIXES.get(first["type"], f"write it as {_EXAMPLE}")
        value = json.dumps(first["input"]) if first["type"] != "extra_forbidden" else "present"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise RoutingError(f"{path}: {key} = {value}: {first['msg']}{more}; fix: {fix}") from None


def read(path: str) -> RoutingConfig:
    """The routing config in `path`; a missing file is an empty config, a bad one a RoutingError."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return RoutingConfig()
    except (OSError, UnicodeDecodeError) as error:
        raise RoutingError(f"{path}: cannot be read: {error}") from None
    return parse(text, path)


def write(path: str, config: RoutingConfig) -> None:
    """Writes `config` atomically (a temporary file in the same folder renamed over `path`)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".routing-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(config.model_dump_json(indent=2) + "\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def bucket(key: str) -> float:
    """A number in [0, 1) fixed by `key`: the first 8 bytes of its sha256, big-endian, over 2**64."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
