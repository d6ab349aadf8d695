"""The Jinja2 environment of the self-contained HTML pages (run report, pushed versions, comparison): one place
that says how templates are found and escaped."""

from collections.abc import Callable
from typing import Any

import jinja2


def environment(**filters: Callable[..., Any]) -> jinja2.Environment:
    """Templates from monitoring/templates, autoescaped, an undefined name an error, with `filters` added."""
    found = jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    found.filters.update(filters)
    return found
