"""Which versions of which models are served: loading, availability-preserving swaps, labels and status.

Follows TF Serving's ServerCore with its default AvailabilityPreservingPolicy: a new version is loaded and warmed up
before any old one is unloaded; requests hold their version until they finish, so a swap never fails a request; a
version that fails to load is reported (state END with its error) while the previous one keeps serving, and is tried
again when its files change or, up to --max_num_load_retries times, after --load_retry_interval_micros.
Labels are assigned after the versions they name are loaded, and refused (FAILED_PRECONDITION, the old labels stay)
when a version is not AVAILABLE, as TF Serving does unless --allow_version_labels_for_unavailable_models.
One deliberate difference: when no version on disk matches the policy (say the base folder was emptied), the loaded
versions keep serving instead of being unloaded, and a warning says so.
A served version whose files change after it was loaded (a copy that paused longer than a look, then went on) keeps
serving as loaded, is reported (its status says so with FAILED_PRECONDITION, and `version_files_changed` is 1), and
is reloaded, availability first, once its files stop changing; TF Serving never looks at a loaded version again.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import versions as versions_lib
from serving.servable import RunObserver, Servable, op_error_text, warm_up
from serving.status import ServingError, failed_precondition, invalid_argument, not_found

logger = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass
class _Version:
    version: int
    path: str
    state: int = State.START
    servable: Servable | None = None
    error: ServingError | None = None
    fingerprint: tuple | None = None  # of the files loaded (or, once a load failed, of those it tried)
    attempts: int = 0
    retry_at: float = 0.0
    files_changed: bool = False  # AVAILABLE, but its files are no longer those it was loaded from
    reload_tried: tuple | None = None  # the files a failed reload tried


@dataclasses.dataclass
class _Model:
    config: model_server_config_pb2.ModelConfig
    versions: dict[int, _Version] = dataclasses.field(default_factory=dict)
    labels: dict[str, int] = dataclasses.field(default_factory=dict)
    warned_empty: bool = False


@dataclasses.dataclass(frozen=True)
class LoadSettings:
    warmup: bool = True
    warmup_iterations: int = 1
    max_retries: int = 5
    retry_interval: float = 60.0
    tags: tuple[str, ...] = ("serve",)
    method_name_check: bool = False
    allow_labels_for_unavailable: bool = False


class ModelManager:
    """Serves the models of a ModelServerConfig; `poll()` brings loaded versions in line with the disk."""

    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        settings: LoadSettings = LoadSettings(),
        on_load: Callable[[str, float, bool], None] | None = None,
        on_warmup: Callable[[str, float, int], None] | None = None,
        on_run: RunObserver | None = None,
        on_files_changed: Callable[[str, int, bool], None] | None = None,
    ):
        self._settings = settings
        self._on_load = on_load
        self._on_warmup = on_warmup
        self._on_run = on_run
        self._on_files_changed = on_files_changed
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._watch = versions_lib.VersionWatch()
        self._models: dict[str, _Model] = {}
        self.apply_config(config)

    # ---- configuration -------------------------------------------------------------------------------------------
    def apply_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Replaces the served models (as TF Serving's reload): new ones load on the next poll, missing ones unload."""
        wanted = {model.name: model for model in config.model_config_list.config}
        with self._lock:
            self.config = config
            for name in list(self._models):
                if name not in wanted:
                    self._unload_all(self._models.pop(name))
            for name, model_config in wanted.items():
                self._models.setdefault(name, _Model(model_config)).config = model_config

    def assign_labels(self) -> None:
        """Applies the config's version labels, all or none: FAILED_PRECONDITION if one names an unloaded version."""
        with self._lock:
            for name, model in self._models.items():
                for label, version in model.config.version_labels.items():
                    record = model.versions.get(version)
                    if record is not None and record.state == State.AVAILABLE:
                        continue
                    if self._settings.allow_labels_for_unavailable and label not in model.labels:
                        continue  # TF Serving's flag allows new labels only
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {name}, which is not currently "
                        "available for inference"
                    )
            for model in self._models.values():
                model.labels = dict(model.config.version_labels)

    def unavailable(self) -> dict[str, tuple[bool, str]]:
        """Model name -> (whether loading failed, why) for each model with no AVAILABLE version."""
        with self._lock:
            reasons = {}
            for name, model in self._models.items():
                if any(r.state == State.AVAILABLE for r in model.versions.values()):
                    continue
                errors = [r.error.message for r in model.versions.values() if r.error is not None]
                reasons[name] = (bool(errors), "; ".join(errors) or f"no version under {model.config.base_path} yet")
            return reasons

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._models[name].labels) if name in self._models else {}

    def initial_load(self, settle_seconds: float = 0.25) -> None:
        """Two looks `settle_seconds` apart, so versions already complete on disk load at once."""
        self.poll()
        time.sleep(settle_seconds)
        self.poll()

    # ---- requests ------------------------------------------------------------------------------------------------
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request asks for, or TF Serving's NOT_FOUND/INVALID_ARGUMENT error."""
        with self._lock:
            model = self._models.get(name)
            if label:
                if model is None or label not in model.labels:
                    raise invalid_argument(f"Unrecognized servable version label: {label}")
                version = model.labels[label]
            if version is not None:
                record = model.versions.get(version) if model else None
                if record is None or record.state != State.AVAILABLE:
                    raise not_found(f"Servable not found for request: Specific({name}, {version})")
                return record.servable
            available = [v for v, r in (model.versions.items() if model else []) if r.state == State.AVAILABLE]
            if not available:
                raise not_found(f"Servable not found for request: Latest({name})")
            return model.versions[max(available)].servable

    def status(self, name: str, version: int | None = None) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus: every version known for the model (newest first), or the one asked for."""
        response = get_model_status_pb2.GetModelStatusResponse()
        with self._lock:
            model = self._models.get(name)
            records = sorted(model.versions.values(), key=lambda r: -r.version) if model else []
            if version is not None:
                records = [r for r in records if r.version == version]
                if not records:
                    raise not_found(f"Could not find version {version} of model {name}")
            if not records:
                raise not_found(f"Could not find any versions of model {name}")
            for record in records:
                entry = response.model_version_status.add(version=record.version, state=record.state)
                entry.status.SetInParent()  # TF Serving always reports a status, OK included
                if record.error:
                    entry.status.error_code = record.error.code.value[0]
                    entry.status.error_message = record.error.message
        return response

    def available(self) -> dict[str, list[int]]:
        """Model name -> AVAILABLE versions."""
        with self._lock:
            return {
                name: sorted(v for v, r in model.versions.items() if r.state == State.AVAILABLE)
                for name, model in self._models.items()
            }

    # ---- polling -------------------------------------------------------------------------------------------------
    def poll(self) -> None:
        """One look at every model's base folder: load what the policy wants, then unload what it no longer does."""
        with self._poll_lock:
            with self._lock:
                models = list(self._models.items())
            present = set()
            for name, model in models:
                on_disk = versions_lib.complete_versions(model.config.base_path)
                present.update(on_disk.values())
                self._poll_model(name, model, on_disk)
            self._watch.forget_missing(present)

    def _poll_model(self, name: str, model: _Model, on_disk: dict[int, str]) -> None:
        wanted = versions_lib.aspired(model.config.model_version_policy, list(on_disk))
        with self._lock:
            for version in [v for v, r in model.versions.items() if v not in on_disk and r.state == State.END]:
                del model.versions[version]
        if not wanted:
            if not model.warned_empty:
                loaded = self.available().get(name, [])
                logger.warning(
                    "model %s: no version under %s matches its policy%s",
                    name,
                    model.config.base_path,
                    f"; still serving {loaded}" if loaded else "; waiting for one",
                )
                model.warned_empty = True
            return
        model.warned_empty = False
        for version in sorted(wanted, reverse=True):
            record = model.versions.get(version)
            if record is not None and record.state == State.AVAILABLE:
                self._follow_files(name, record, on_disk[version])
                continue
            fingerprint = self._watch.ready(on_disk[version])
            if fingerprint is None or not self._should_try(record, fingerprint):
                continue
            self._load(name, model, version, on_disk[version], fingerprint)
        with self._lock:
            if not any(model.versions.get(v) and model.versions[v].state == State.AVAILABLE for v in wanted):
                return  # availability first: keep the old versions until a wanted one serves
            retired = [r for v, r in model.versions.items() if v not in wanted and r.state == State.AVAILABLE]
        for record in retired:
            self._unload(name, record)

    def _should_try(self, record: _Version | None, fingerprint: tuple) -> bool:
        if record is None or record.state == State.START:
            return True
        if record.state != State.END:  # loading, available or unloading
            return False
        if record.error is None:  # unloaded earlier and wanted again, e.g. the newer version was deleted
            return True
        if record.fingerprint != fingerprint:  # the files changed (e.g. a copy finished): try afresh
            record.attempts = 0
            return True
        return record.attempts <= self._settings.max_retries and time.monotonic() >= record.retry_at

    def _open(self, name: str, version: int, path: str) -> tuple[Servable, int]:
        """Loads and warms up a version (raises what went wrong); returns it with its number of warmup records."""
        servable = Servable(name, version, path, self._settings.tags, self._settings.method_name_check, self._on_run)
        records = 0
        if self._settings.warmup:
            records, warmup_seconds = warm_up(servable, self._settings.warmup_iterations)
            if self._on_warmup:
                self._on_warmup(path, warmup_seconds, records)
        return servable, records

    def _failed(self, record: _Version, error: Exception, what: str) -> str:
        """Records a failed (re)load on the version, for its status and retries; returns the reason."""
        message = error.message if isinstance(error, ServingError) else f"{type(error).__name__}: {error}"
        message = " ".join(op_error_text(message).split())[:1000]
        code = error.code if isinstance(error, ServingError) else grpc.StatusCode.UNKNOWN
        record.error = ServingError(code, f"{what} {record.path}: {message}")
        record.attempts += 1
        record.retry_at = time.monotonic() + self._settings.retry_interval
        return message

    def _load(self, name: str, model: _Model, version: int, path: str, fingerprint: tuple) -> None:
        with self._lock:
            record = model.versions.setdefault(version, _Version(version, path))
            record.state, record.error, record.fingerprint, record.path = State.LOADING, None, fingerprint, path
        started = time.monotonic()
        try:
            servable, records = self._open(name, version, path)
        except Exception as error:  # noqa: BLE001 - any load failure is reported in the version's status
            with self._lock:
                record.state, record.servable = State.END, None
                message = self._failed(record, error, "Failed to load")
            serving = self.available().get(name, [])
            logger.error(
                "model %s version %d failed to load (%s)%s",
                name,
                version,
                message,
                f"; still serving {serving}" if serving else "",
            )
            if self._on_load:
                self._on_load(path, time.monotonic() - started, False)
            return
        with self._lock:
            record.servable, record.state = servable, State.AVAILABLE
        seconds = time.monotonic() - started
        logger.info(
            "model %s version %d AVAILABLE (loaded in %.1f s; warmup %d records)", name, version, seconds, records
        )
        if self._on_load:
            self._on_load(path, seconds, True)

    # ---- files that change under a served version -------------------------------------------------------------
    def _follow_files(self, name: str, record: _Version, path: str) -> None:
        """Reports a served version whose files are no longer those it was loaded from; reloads it once they are
        complete and unchanged between two looks."""
        current, unchanged = self._watch.look(path)
        if current == record.fingerprint:
            if record.files_changed:  # back to the files it was loaded from
                self._mark_changed(name, record, False)
            return
        if not record.files_changed:
            self._mark_changed(name, record, True)
        if current is not None and unchanged and self._should_reload(record, current):
            self._reload(name, record, path, current)

    def _mark_changed(self, name: str, record: _Version, changed: bool) -> None:
        with self._lock:
            record.files_changed = changed
            record.error = None
            if changed:
                record.error = failed_precondition(
                    f"The files of {record.path} changed after version {record.version} was loaded (was it copied "
                    "in place, saved_model.pb first?); it keeps serving as loaded until its files stop changing "
                    "and it is reloaded"
                )
        if changed:
            logger.warning("model %s version %d: %s", name, record.version, record.error.message)
        if self._on_files_changed:
            self._on_files_changed(name, record.version, changed)

    def _should_reload(self, record: _Version, fingerprint: tuple) -> bool:
        if record.reload_tried != fingerprint:  # files not tried yet
            record.attempts = 0
            return True
        return record.attempts <= self._settings.max_retries and time.monotonic() >= record.retry_at

    def _reload(self, name: str, record: _Version, path: str, fingerprint: tuple) -> None:
        """Availability first: the version keeps serving as loaded until its reload is warmed up."""
        started = time.monotonic()
        try:
            servable, records = self._open(name, record.version, path)
        except Exception as error:  # noqa: BLE001 - reported in the version's status; it keeps serving as loaded
            with self._lock:
                record.reload_tried = fingerprint
                message = self._failed(record, error, "Failed to reload, after its files changed,")
            logger.error("model %s version %d failed to reload (%s); it keeps serving as loaded", name,
                         record.version, message)  # fmt: skip
            if self._on_load:
                self._on_load(path, time.monotonic() - started, False)
            return
        with self._lock:
            record.servable, record.fingerprint, record.reload_tried = servable, fingerprint, None
        self._mark_changed(name, record, False)
        seconds = time.monotonic() - started
        logger.info("model %s version %d reloaded from its changed files (%.1f s; warmup %d records)", name,
                    record.version, seconds, records)  # fmt: skip
        if self._on_load:
            self._on_load(path, seconds, True)

    def _unload(self, name: str, record: _Version) -> None:
        if record.files_changed:
            self._mark_changed(name, record, False)
        with self._lock:
            record.state = State.UNLOADING
            record.servable = None  # requests in flight keep their own reference until they finish
            record.state = State.END
        logger.info("model %s version %d unloaded", name, record.version)

    def _unload_all(self, model: _Model) -> None:
        for record in model.versions.values():
            if record.state == State.AVAILABLE:
                self._unload(model.config.name, record)


class Poller:
    """Calls `poll()` every `interval` seconds on a daemon thread (and `reload()` for the config file)."""

    def __init__(self, interval: float, action: Callable[[], None], name: str):
        self._interval = interval
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def stop(self) -> None:
        """No more looks; one under way (a load can take minutes) is not waited for, the drain cannot wait."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._action()
            except Exception:  # a failed look must not stop future ones
                logger.exception("background poll failed")
