"""Sends a compiled KFP v2 pipeline spec to an open-source Kubeflow Pipelines backend (`kfx submit`).

Talks to the REST API v2beta1 through `kfp.Client` (kfp 2.5.0). SubmitError: bad input, nothing sent; BackendError:
the backend is unreachable, rejected the credentials or the request, or the run failed. Secrets (bearer token,
session cookie) come only from env vars or files and are redacted from messages and logs.
"""

import contextlib
import dataclasses
import datetime
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import urllib3
import yaml

from runners.kubeflow.connection import (
    HTTP_LOGGERS,
    Auth,
    BackendError,
    SubmitError,
    check_backend,
    describe_api_error,
    network_reason,
    redact,
    redacted_logging,
    select_auth,
)

DEFAULT_PACKAGE = os.path.join("build", "pipeline.yaml")
SCHEMA_VERSION = "2.1.0"  # the open-source backend rejects the legacy 2.0.0 schema
POD_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")
AUTH_MODES = ("none", "token", "service-account", "cookie")


@dataclasses.dataclass(frozen=True)
class SubmitOptions:
    """What `kfx submit` was asked (the fields are its flags); checked by `submit` before anything is sent."""

    package: str = DEFAULT_PACKAGE
    host: str | None = None
    namespace: str | None = None
    experiment: str = "Default"
    create_experiment: bool = False
    run_name: str | None = None
    pipeline_root: str | None = None
    param: tuple[str, ...] = ()  # KEY=VALUE
    recurring: str | None = None  # 6-field cron
    max_concurrency: int | None = None
    disable_caching: bool = False
    wait: bool = False
    timeout: float = 3600.0
    poll_interval: float = 10.0
    auth: str = "none"
    token_file: str | None = None
    cookie_file: str | None = None
    verbose: bool = False


def parse_params(pairs: Sequence[str], declared: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Turns KEY=VALUE texts into runtime parameters; values are JSON when valid, else strings.

    With `declared` (parameter name -> parameterType from the spec), unknown names are errors and STRING
    parameters keep the raw text, so `--param tag=123` stays "123".
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SubmitError(f"bad --param '{pair}': expected KEY=VALUE, e.g. --param train_steps=500")
        if declared is not None and key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise SubmitError(f"bad --param '{key}': the pipeline has no such parameter (it accepts: {known})")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        params[key] = raw if declared is not None and declared[key] == "STRING" else value
    return params


def validate_cron(expression: str) -> str:
    """Checks a KFP cron schedule: 6 space-separated fields, seconds first (robfig/cron)."""
    fields = expression.split()
    if len(fields) == 6:
        return " ".join(fields)
    hint = f"; did you mean '0 {' '.join(fields)}'?" if len(fields) == 5 else ""
    raise SubmitError(
        f"bad --recurring '{expression}': KFP needs 6 cron fields (second minute hour day month weekday), "
        f"got {len(fields)}{hint}"
    )


def load_package(path: str) -> dict[str, Any]:
    """Reads a compiled KFP pipeline spec and checks what the open-source backend requires."""
    if not path.endswith((".yaml", ".yml")):
        raise SubmitError(f"package {path} is not a .yaml/.yml KFP pipeline spec")
    try:
        with open(path, encoding="utf-8") as package_file:
            spec = next(yaml.safe_load_all(package_file), None)
    except OSError as error:
        raise SubmitError(f"cannot read package {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SubmitError(f"package {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(spec, dict) or "root" not in spec or "pipelineInfo" not in spec:
        raise SubmitError(f"package {path} is not a KFP pipeline spec (no pipelineInfo/root)")
    if spec.get("schemaVersion") != SCHEMA_VERSION:
        raise SubmitError(
            f"package {path} has schemaVersion {spec.get('schemaVersion')}, the open-source KFP backend needs "
            f"{SCHEMA_VERSION}: compile with KubeflowV2DagRunner(..., use_pipeline_spec_2_1=True)"
        )
    return spec


def declared_parameters(spec: Mapping[str, Any]) -> dict[str, str]:
    """Runtime parameters of the pipeline: name -> parameterType."""
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {name: str(definition.get("parameterType", "")) for name, definition in parameters.items()}


def find_experiment(client: Any, name: str, namespace: str | None, create: bool) -> Any:
    """Returns the experiment called `name`; creates it only with --create-experiment."""
    try:
        return client.get_experiment(experiment_name=name, namespace=namespace)
    except ValueError as error:
        if not str(error).startswith("No experiment is found"):
            raise BackendError(f"experiment '{name}': {error}") from None  # e.g. two with that name
    if create:
        return client.create_experiment(name=name, namespace=namespace)
    listed = client.list_experiments(page_size=20, namespace=namespace).experiments or []
    known = ", ".join(sorted(experiment.display_name for experiment in listed)) or "none"
    where = f" in namespace {namespace}" if namespace else ""
    raise SubmitError(
        f"experiment '{name}' does not exist{where} (existing: {known}); pick an existing one with --experiment, "
        "create it in the KFP UI, or add --create-experiment"
    )


def wait_for_run(client: Any, run_id: str, timeout: float, poll_seconds: float, console: TextIO) -> str:
    """Polls the run until it reaches a terminal state, writing each state change; returns the final state."""
    started, last_state = time.monotonic(), None
    while True:
        run = client.get_run(run_id)
        state = str(run.state or "PENDING")
        if state != last_state:
            console.write(f"  state: {state} after {int(time.monotonic() - started)}s\n")
            console.flush()
            last_state = state
        if state in TERMINAL_STATES:
            return state
        if time.monotonic() - started + poll_seconds > timeout:
            raise BackendError(f"run {run_id} is still {state} after {int(timeout)}s (--timeout)")
        time.sleep(poll_seconds)


def submit(args: SubmitOptions, env: Mapping[str, str], console: TextIO) -> None:
    """Validates the input, then creates the run or recurring run and writes where to find it to `console`.

    With `wait`, follows the run to its end; BackendError when it did not succeed.
    """
    spec = load_package(args.package)
    params = parse_params(args.param, declared_parameters(spec))
    cron = validate_cron(args.recurring) if args.recurring else None
    if args.pipeline_root and not args.pipeline_root.startswith(("gs://", "s3://")):
        raise SubmitError(f"bad --pipeline-root '{args.pipeline_root}': expected gs://… or s3://…")
    if not cron and (args.max_concurrency is not None):
        raise SubmitError("--max-concurrency applies only to --recurring")
    if cron and args.wait:
        raise SubmitError("--wait applies only to one-off runs, not --recurring")
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise SubmitError("--timeout and --poll-interval must be positive")
    if not args.host or not args.host.startswith(("http://", "https://")):
        raise SubmitError(f"bad --host '{args.host or ''}': give http(s)://… or set KF_PIPELINES_ENDPOINT")
    host = args.host.rstrip("/")
    auth = select_auth(args.auth, args.token_file, args.cookie_file, env)
    with redacted_logging(auth.secrets, args.verbose):
        try:
            _submit_to_backend(args, host, auth, spec, params, cron, console)
        except SubmitError as error:
            raise type(error)(redact(str(error), auth.secrets)) from None
        except urllib3.exceptions.HTTPError as error:
            raise BackendError(f"lost the connection to {host} ({network_reason(error)})") from None


def _create(client: Any, args: SubmitOptions, experiment_id: str, name: str, params: dict, cron: str | None):
    """Creates the run, or the recurring run when `cron` is set; returns kfp's response object."""
    common = {
        "experiment_id": experiment_id,
        "job_name": name,
        "params": params,
        "pipeline_package_path": args.package,
        "pipeline_root": args.pipeline_root,
        "enable_caching": False if args.disable_caching else None,  # None keeps the compile-time setting
    }
    if cron:
        return client.create_recurring_run(cron_expression=cron, max_concurrency=args.max_concurrency or 1, **common)
    return client.run_pipeline(**common)


def _submit_to_backend(
    args: SubmitOptions,
    host: str,
    auth: Auth,
    spec: Mapping[str, Any],
    params: dict,
    cron: str | None,
    console: TextIO,
) -> None:
    import kfp
    import kfp_server_api

    health = check_backend(host, auth)
    if health.get("multi_user") and not args.namespace and not os.path.exists(POD_NAMESPACE_FILE):
        raise SubmitError(f"{host} is a multi-user Kubeflow: pass --namespace <your profile>")
    name = args.run_name or f"{spec['pipelineInfo']['name']} {datetime.datetime.now():%Y-%m-%d %H-%M-%S}"
    step = "the connection"
    try:
        # kfp prints its own links and version warnings; kfx prints one summary instead.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            client = kfp.Client(host=host, **auth.client_kwargs)
            # Debug logs, never `Configuration.debug` (http.client would print the request headers).
            for logger_name in HTTP_LOGGERS if args.verbose else ():
                logging.getLogger(logger_name).setLevel(logging.DEBUG)
            step = f"experiment '{args.experiment}'"
            experiment = find_experiment(client, args.experiment, args.namespace, args.create_experiment)
            step = "the recurring run" if cron else "the run"
            created = _create(client, args, experiment.experiment_id, name, params, cron)
        kind, created_id = ("recurring run", created.recurring_run_id) if cron else ("run", created.run_id)
        url = f"{host}/#/recurringrun/details/{created_id}" if cron else f"{host}/#/runs/details/{created_id}"
        where = f"  schedule:   {cron}" if cron else f"  root:       {args.pipeline_root or '(kfp-launcher default)'}"
        console.write(
            f"{kind} {created_id}\n  name:       {name}\n  experiment: {args.experiment} ({experiment.experiment_id})\n"
            f"{where}\n  url:        {url}\n"
        )
        console.flush()
        if cron or not args.wait:
            return
        step = "the run status"
        state = wait_for_run(client, created_id, args.timeout, args.poll_interval, console)
    except kfp_server_api.ApiException as error:
        raise describe_api_error(error, step, auth) from None
    if state != "SUCCEEDED":
        raise BackendError(f"run {created_id} ended {state}; see {url}")
