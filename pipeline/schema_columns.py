"""Whether a curated schema (`data.schema`) describes the data's columns, checked before anything runs.

A schema written for other data (a config copied from the taxi example with its `schema:` line kept) makes
ExampleValidator report every column of the new data, and DataGate stop the run minutes later. The header of the
data and the schema's feature names tell the same in a millisecond: `kfx run` and `kfx config check --data` both ask.
"""

from collections.abc import Sequence

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

_SHOWN = 8  # names listed per direction


def schema_features(path: str) -> list[str]:
    """The feature names of a schema in text format (.pbtxt)."""
    with open(path, encoding="utf-8") as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    return [feature.name for feature in schema.feature]


def problem(schema_path: str, header: Sequence[str]) -> str | None:
    """One line when the schema's features and the data's columns differ: the names each side lacks, and the fix."""
    features = schema_features(schema_path)
    only_schema = [name for name in features if name not in header]
    only_data = [name for name in header if name not in features]
    if not only_schema and not only_data:
        return None
    parts = []
    for names, where in ((only_schema, "in the schema but not in the data"), (only_data, "in the data but not in it")):
        if names:
            more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
            parts.append(f"{len(names)} column(s) {where} ({', '.join(map(repr, names[:_SHOWN]))}{more})")
    return (
        f"data.schema '{schema_path}' does not describe this data: {'; '.join(parts)}; remove the data.schema line "
        "to validate against the schema inferred from the data, or fix the schema"
    )
