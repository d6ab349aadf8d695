"""Bounded work per request: what its tensors and examples may decode to, checked before anything is allocated.

No request may decode to more than DECODE_EXPANSION times its own size plus --decode_allowance_bytes. Every exact
encoding fits under the multiple: the densest, a one-byte varint (or JSON's `0,`), becomes an 8-byte int64. Only
two things grow further, and they are what the limit stops: a TensorProto that declares more values than it carries
(TensorFlow repeats the last one, so 582 bytes can declare 8 GB of doubles) and a `context` merged into every
example of a Classify/Regress/MultiInference request.
"""

import dataclasses

from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import tensors
from serving.status import invalid_argument

DECODE_EXPANSION = 8
MAX_RANK = 32  # numpy's limit (NPY_MAXDIMS); TensorFlow's own is 254


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """The per-request limits REST and gRPC share (--decode_allowance_bytes, --rest_api_read_timeout_in_ms)."""

    decode_allowance_bytes: int
    read_timeout_ms: int

    @classmethod
    def from_options(cls, options) -> "RequestLimits":
        return cls(options.decode_allowance_bytes, options.rest_api_read_timeout_in_ms)

    def budget(self, request_bytes: int) -> "DecodeBudget":
        return DecodeBudget(request_bytes, self.decode_allowance_bytes)


class DecodeBudget:
    """What one request may still decode to; `spend` refuses the input that would take it past its limit."""

    def __init__(self, request_bytes: int, allowance: int):
        self.request_bytes = request_bytes
        self.allowance = allowance
        self.limit = DECODE_EXPANSION * request_bytes + allowance
        self.spent = 0

    def spend(self, what: str, size: int) -> None:
        self.spent += size
        if self.spent > self.limit:
            raise invalid_argument(
                f"{what} decodes to {size} bytes, which takes the request past its limit of {self.limit} bytes "
                f"({DECODE_EXPANSION} x its {self.request_bytes} bytes + --decode_allowance_bytes={self.allowance})"
            )


def check_rank(what: str, rank: int) -> None:
    if rank > MAX_RANK:
        raise invalid_argument(f"{what} has {rank} dimensions; this server takes at most {MAX_RANK}")


def spend_on_tensor(budget: DecodeBudget, name: str, proto: tensor_pb2.TensorProto) -> None:
    """Charges a client's TensorProto to the budget from its shape alone; an unreadable one is TF Serving's
    "tensor parsing error"."""
    check_rank(f"input '{name}'", len(proto.tensor_shape.dim))
    try:
        size = tensors.decoded_bytes(proto)
    except ValueError:
        raise invalid_argument(f"tensor parsing error: {name}") from None
    dtype = types_pb2.DataType.Name(proto.dtype).removeprefix("DT_").lower()
    shape = "[" + ",".join(str(dim.size) for dim in proto.tensor_shape.dim) + "]"
    budget.spend(f"input '{name}' ({dtype} {shape})", size)


def spend_on_examples(budget: DecodeBudget, context_bytes: int, example_sizes: list[int]) -> None:
    """Charges serialized tf.Examples, each with the context merged in, before any is merged."""
    size = sum(example_sizes) + len(example_sizes) * (context_bytes + tensors.STRING_REFERENCE_BYTES)
    budget.spend(f"{len(example_sizes)} examples with a {context_bytes}-byte context", size)
