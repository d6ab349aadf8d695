"""Request inputs named by the raw column rather than the signature's key: renamed to the key it maps to.

TensorFlow only accepts names of letters, digits and '_' as signature input keys, so our exporter keys the
serving signature by each column's safe name ("mean radius" -> "mean_radius"). A request may name an input either
way: a key that is not a signature input but whose safe name is, is renamed; two keys of one request object naming
the same input are refused, naming both.
"""

import re
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from serving.status import invalid_argument

_SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_UNSAFE_CHARACTER = re.compile(r"[^A-Za-z0-9_]")

Value = TypeVar("Value")


def safe_name(column: str) -> str:
    """A copy of models.features.safe_name (serving/ does not import models/; a test keeps the two equal)."""
    if _SAFE_NAME.match(column):
        return column
    name = _UNSAFE_CHARACTER.sub("_", column)
    return name if name[:1].isalpha() else f"c_{name}"  # only ASCII is left: isalpha is [A-Za-z]


def renames(keys: Iterable[str], inputs: Collection[str]) -> dict[str, str]:
    """Request key -> signature input, for the keys that are not inputs but whose safe name is one."""
    return {key: safe_name(key) for key in keys if key not in inputs and safe_name(key) in inputs}


def renamed(values: Mapping[str, Value], rename: Mapping[str, str], where: str) -> Mapping[str, Value]:
    """`values` with its keys renamed by `rename` (`values` itself when none is); two keys naming one input are an
    INVALID_ARGUMENT error naming both, `where` saying which object of the request holds them."""
    if rename.keys().isdisjoint(values):
        return values
    result: dict[str, Value] = {}
    named_by: dict[str, str] = {}
    for key, value in values.items():
        name = rename.get(key, key)
        if name in result:
            first, second = sorted((named_by[name], key))  # sorted: a gRPC request's map has no order
            raise invalid_argument(f"{where}keys '{first}' and '{second}' both name the input '{name}'; send only one")
        result[name] = value
        named_by[name] = key
    return result
