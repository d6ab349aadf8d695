"""The drift verdicts recorded in ML Metadata, read back before a run: which spans were rejected, which earlier span
the newest one is compared with, and whether its drift was accepted on request.

DriftGate records its verdict on the newest span as custom properties of its DriftReport artifact (`verdict`,
`span`, `span_fingerprint`, `accepted_by`, ...). TFX's LocalDagRunner and the KFP v2 launcher both record that
artifact in ML Metadata (KFP with its schema title as the type name, numbers as doubles), so the same reader serves
`kfx run` (the workspace's SQLite file) and the `resolve-data-window` task on Kubeflow (KFP's MLMD service).

The rules, per span number (the latest verdict on a span is the one that counts):
- a span rejected (past a blocking threshold, not accepted) is left out of every later window and never becomes
  the reference; the newest span is always checked, so a rejected newest span is checked (and stopped) again until
  a later span arrives or its drift is accepted;
- the reference is the last span before the newest that passed the check or was accepted; before any verdict was
  recorded (a first run), the span before the newest that was not rejected;
- an acceptance (`kfx run --accept-drift`) holds for the span's files as they were accepted: the same span with
  other files is checked again.
"""

import dataclasses
import datetime
import getpass
import json
import socket
from typing import TYPE_CHECKING

from components.drift_gate import policy
from components.window_example_gen import window as window_lib

if TYPE_CHECKING:  # ML Metadata loads in a third of a second: only when a run reads its verdicts
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

DRIFT_REPORT_TYPE = "components.DriftReport"  # component.DriftReport.TYPE_NAME, also its schema title on KFP
GRPC_SCHEME = "grpc://"
GRPC_TIMEOUT_SECONDS = 10.0
# Custom properties of the DriftReport artifact that hold the verdict.
PIPELINE_PROPERTY, SPAN_PROPERTY, REFERENCE_PROPERTY = "pipeline_name", "span", "reference_span"
VERDICT_PROPERTY, FINGERPRINT_PROPERTY = "verdict", "span_fingerprint"
ACCEPTED_BY, ACCEPTED_AT, ACCEPTANCE_NOTE = "accepted_by", "accepted_at", "acceptance_note"


@dataclasses.dataclass(frozen=True)
class Acceptance:
    """A request to accept the drift of `span` (its files as fingerprinted), by whom and when."""

    span: int
    fingerprint: str
    by: str
    at: str
    note: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Acceptance | None":
        """The acceptance in DriftGate's parameter; None for an empty one ("" or "{}")."""
        fields = json.loads(text) if text and text.strip() else {}
        return cls(**fields) if fields else None

    @classmethod
    def now(cls, span: int, fingerprint: str, note: str = "", by: str = "") -> "Acceptance":
        """Accepted now (UTC), by `by` or by the user and host this runs as."""
        who = by or f"{getpass.getuser()}@{socket.gethostname()}"
        at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return cls(span, fingerprint, who, at, note)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """DriftGate's verdict on one span, as recorded."""

    span: int
    verdict: str
    fingerprint: str
    reference: int | None
    accepted_by: str = ""
    accepted_at: str = ""
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run takes from the verdicts: earlier spans to leave out, the reference, an acceptance to apply."""

    excluded: tuple[int, ...] = ()
    reference: int | None = None
    acceptance: Acceptance | None = None


@dataclasses.dataclass(frozen=True)
class Ledger:
    """The latest verdict per span number."""

    verdicts: dict[int, Verdict] = dataclasses.field(default_factory=dict)

    def rejected_before(self, newest: int) -> tuple[int, ...]:
        return tuple(s for s, v in sorted(self.verdicts.items()) if s < newest and v.verdict == policy.REJECTED)

    def reference(self, newest: int, available: tuple[int, ...]) -> int | None:
        """The last accepted span before `newest` among `available`; without one, the last not rejected."""
        rejected = set(self.rejected_before(newest))
        earlier = [s for s in available if s < newest and s not in rejected]
        accepted = [s for s in earlier if self.verdicts.get(s, Verdict(s, "", "", None)).verdict in _ACCEPTED]
        return (accepted or earlier or [None])[-1]

    def acceptance(self, span: int, fingerprint: str) -> Acceptance | None:
        """The acceptance recorded on `span` for these same files, carried into the next run of the same span."""
        found = self.verdicts.get(span)
        if found is None or not found.accepted_by or found.fingerprint != fingerprint:
            return None
        return Acceptance(span, fingerprint, found.accepted_by, found.accepted_at, found.note)

    def plan(self, window: window_lib.Window, accept: Acceptance | None = None) -> Plan:
        """The plan for a run whose newest span is `window.newest` (resolved without the verdicts); `accept`, a new
        acceptance of that span, replaces any recorded one."""
        newest = window.newest
        acceptance = accept or self.acceptance(newest, window.span_fingerprint(newest))
        return Plan(self.rejected_before(newest), self.reference(newest, window.available), acceptance)


_ACCEPTED = (policy.PASSED, policy.ACCEPTED)


def acceptance_parameter(acceptance: Acceptance | None) -> str:
    """DriftGate's `acceptance` parameter: the acceptance as JSON, "{}" for none."""
    return acceptance.to_json() if acceptance else "{}"


def connect(target: str) -> "metadata_store.MetadataStore":
    """ML Metadata, read-only: a SQLite file, or `grpc://host:port` (Kubeflow Pipelines' MLMD service)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    if target.startswith(GRPC_SCHEME):
        host, _, port = target[len(GRPC_SCHEME) :].rpartition(":")
        config = metadata_store_pb2.MetadataStoreClientConfig(
            host=host, port=int(port), client_timeout_sec=GRPC_TIMEOUT_SECONDS
        )
    else:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = target
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _value(artifact: "metadata_store_pb2.Artifact", name: str) -> str | int | None:
    """A custom property as TFX wrote it: KFP stores numbers as doubles."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    if kind == "double_value":
        return int(value.double_value)
    return getattr(value, kind) if kind else None


def read(store: "metadata_store.MetadataStore", pipeline_name: str) -> Ledger:
    """The latest verdict per span of `pipeline_name`, in the order the artifacts were recorded."""
    if DRIFT_REPORT_TYPE not in {t.name for t in store.get_artifact_types()}:
        return Ledger()
    records = sorted(store.get_artifacts_by_type(DRIFT_REPORT_TYPE), key=lambda a: (a.create_time_since_epoch, a.id))
    verdicts = {}
    for record in records:
        if _value(record, PIPELINE_PROPERTY) != pipeline_name or not _value(record, VERDICT_PROPERTY):
            continue  # another pipeline's, or recorded before verdicts were
        span, reference = _value(record, SPAN_PROPERTY), _value(record, REFERENCE_PROPERTY)
        verdicts[span] = Verdict(
            span=span,
            verdict=_value(record, VERDICT_PROPERTY),
            fingerprint=_value(record, FINGERPRINT_PROPERTY) or "",
            reference=None if reference is None or reference < 0 else reference,
            accepted_by=_value(record, ACCEPTED_BY) or "",
            accepted_at=_value(record, ACCEPTED_AT) or "",
            note=_value(record, ACCEPTANCE_NOTE) or "",
        )
    return Ledger(verdicts)


def resolve_window(
    data_root: str,
    size: int,
    newest: int | None,
    ledger: Ledger,
    accept: str | None = None,
    accepted_by: str = "",
) -> tuple[window_lib.Window, Plan]:
    """The window of a run with the verdicts applied, and its plan. `accept` (a note, possibly empty) accepts the
    newest span's drift, recorded as by `accepted_by` (default: this user and host)."""
    plain = window_lib.resolve(data_root, size, newest)
    acceptance = None
    if accept is not None:
        acceptance = Acceptance.now(plain.newest, plain.span_fingerprint(plain.newest), accept, accepted_by)
    plan = ledger.plan(plain, acceptance)
    window = window_lib.resolve(data_root, size, plain.newest, plan.excluded, plan.reference)
    return window, plan
