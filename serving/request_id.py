"""Request ids: REST header / gRPC metadata `x-request-id`, taken from the request or generated, always returned.

An id is 1 to 128 printable ASCII characters without spaces; anything else is refused (REST 400, gRPC
INVALID_ARGUMENT) with a message naming the header and the rule. A request without one gets a uuid4 hex. The id
goes into the request log (`log_metadata.request_origin`), with the route (`request_criticality`), and decides the
canary split, the shadow sample and the log sampling, so a retry with the same id meets the same fate.
"""

import dataclasses
import re
import uuid
from collections.abc import Callable

from serving.status import invalid_argument

HEADER = "x-request-id"
MAX_LENGTH = 128
_VALID = re.compile(rf"[\x21-\x7e]{{1,{MAX_LENGTH}}}")


def generate() -> str:
    return uuid.uuid4().hex


def take(value: str | None) -> str:
    """The request's own id when it has one (checked), else a new one."""
    if value is None:
        return generate()
    if _VALID.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise invalid_argument(
            f"{HEADER} {shown!r} is not a request id: use 1 to {MAX_LENGTH} printable ASCII characters without "
            "spaces (or send none and the server makes one)"
        )
    return value


@dataclasses.dataclass
class Call:
    """One request as it goes through the server: its id, then the route and version that answered it."""

    request_id: str
    route: str = ""
    model_name: str = ""
    version: int | None = None
    shadow: Callable[[], None] | None = None  # queues the request's shadow copy, once the answer is sent
