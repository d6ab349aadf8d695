"""One line for each problem YAML or pydantic finds in a configuration file: the dotted key, the bad value and what
is allowed, taken from the configuration's JSON Schema (ranges, choices, descriptions)."""

import datetime
import difflib
import json
from typing import Any

import yaml


def yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what, in one line (PyYAML's own message spans several)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    hint = "; indent with spaces, YAML does not allow tabs" if "\\t" in problem else ""
    return where + problem + hint


# pydantic error types, grouped by what the value must be instead.
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")
_OUT_OF_RANGE = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "finite_number": "a finite number",
    "tuple_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of keys to values",
    "dataclass_type": "a mapping of keys to values",
}


def describe(problems: list[Any], schema: dict[str, Any]) -> str:
    """One line for the first problem pydantic found (an unknown key first: it explains a missing one)."""
    problems = sorted(problems, key=lambda problem: problem["type"] not in _UNKNOWN_KEY)
    more = len(problems) - 1
    return _message(problems[0], schema) + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _message(problem: Any, schema: dict[str, Any]) -> str:
    loc, kind, value = tuple(problem["loc"]), problem["type"], problem["input"]
    if loc[-1:] == ("[key]",):  # a key of a mapping such as evaluation.thresholds
        if kind == "literal_error":
            return _unknown_key(loc[:-1], _node(schema, loc[:-2]).get("propertyNames", {}).get("enum", []))
        key, node = f"a key of {_dotted(loc[:-2])}", _node(schema, loc[:-2]).get("propertyNames", {})
    else:
        key, node = _dotted(loc) or "the file", _node(schema, loc)
    if kind in _UNKNOWN_KEY:
        return _unknown_key(loc, list(_node(schema, loc[:-1]).get("properties", {})))
    if kind in ("missing", "missing_argument"):
        return f"missing required key '{key}'"
    if kind == "value_error":  # raised by a section's __post_init__ with the fix
        return f"{key}: {problem['ctx']['error']}" if loc else str(problem["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{key} {_show(value)} is invalid; use {node.get('description', node.get('pattern'))}"
    if kind in ("string_too_short", "too_short"):
        return f"{key} must not be empty"
    if kind == "literal_error":
        allowed = node.get("enum", [node["const"]] if "const" in node else [])  # a one-value Literal is a const
        hint = difflib.get_close_matches(str(value), allowed, n=1)
        choices = ", ".join(f"'{choice}'" for choice in allowed)
        return f"{key} must be one of {choices}, got {_show(value)}" + (f"; did you mean '{hint[0]}'?" if hint else "")
    if kind in _OUT_OF_RANGE:
        percent = node.get("maximum") == 1 and isinstance(value, (int, float)) and 1 < value <= 100
        return f"{key} must be {_range(node)}, got {_show(value)}" + ("; write 0.9 for 90%" if percent else "")
    expected = _EXPECTED.get(kind, problem["msg"].removeprefix("Input should be ").lower())
    return f"{key} must be {expected}, got {_kind(value)}" + (_quote_hint(value) if kind == "string_type" else "")


def _unknown_key(loc: tuple, allowed: list[str]) -> str:
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    suggestion = f"did you mean '{hint[0]}'? " if hint else ""
    return f"unknown key '{_dotted(loc)}'; {suggestion}allowed here: {', '.join(allowed)}"


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _node(schema: dict[str, Any], loc: tuple) -> dict[str, Any]:
    """The JSON Schema of the value at `loc`, following $ref, `X | None`, list items and mapping values."""
    node = schema
    for part in (*loc, None):
        while "$ref" in node or "anyOf" in node:
            if "$ref" in node:
                node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
            else:
                node = next(option for option in node["anyOf"] if option.get("type") != "null")
        if part is None:
            return node
        if isinstance(part, int) and "items" in node:
            node = node["items"]
        else:
            node = node.get("properties", {}).get(part) or node.get("additionalProperties") or {}
    return node


def _range(node: dict[str, Any]) -> str:
    low = ("[", node["minimum"]) if "minimum" in node else ("(", node.get("exclusiveMinimum"))
    high = ("]", node["maximum"]) if "maximum" in node else (")", node.get("exclusiveMaximum"))
    if low[1] is not None and high[1] is not None:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low[1] is not None:
        return f"{'>=' if low[0] == '[' else '>'} {low[1]}"
    return f"{'<=' if high[0] == ']' else '<'} {high[1]}"


def _show(value: Any) -> str:
    """The value as YAML would write it (true, null, 'text', [a, b]), shortened."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
    text = json.dumps(value, default=str, ensure_ascii=False)  # booleans, null and lists read as in YAML
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    """The value and what YAML made of it, for type errors: an unquoted `yes` is a boolean, `2023` a number."""
    if value is None:
        return "an empty value (null)"
    kinds = (
        (bool, "the boolean"),
        ((int, float), "the number"),
        (datetime.date, "the date"),
        (list, "a list"),
        (dict, "a mapping"),
        (str, "the text"),
    )
    kind = next((name for types, name in kinds if isinstance(value, types)), "")
    return f"{kind} {_show(value)}".lstrip()


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return '; YAML reads unquoted yes, no, on, off, true and false as booleans: quote the text, e.g. "yes"'
    if isinstance(value, (int, float, datetime.date)):
        return f'; quote it ("{value}") if it is meant as text'
    if value is None:
        return "; YAML reads an unquoted null or ~ as empty: quote it if you mean the text"
    return ""
