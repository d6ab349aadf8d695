"""Connecting to the Kubeflow Pipelines API: credentials, redaction of secrets, a health check, error messages.

Secrets (bearer token, session cookie, ServiceAccount token) come only from env vars or files and never reach
messages or logs (the `kfx` CLI also hides one typed on the command line by mistake: kfx/secret_args.py).
"""

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3

SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
SA_TOKEN_DEFAULT = "/var/run/secrets/kubeflow/pipelines/token"
HTTP_LOGGERS = ("urllib3", "kfp_server_api")  # kfp_server_api.Configuration() resets both to WARNING
AUTH_HINTS = {
    "none": "this backend needs credentials; use --auth token, cookie or service-account",
    "token": "check that the token in KF_PIPELINES_TOKEN/--token-file is current and accepted by this cluster",
    "cookie": "log in again and refresh the session cookie in KF_PIPELINES_COOKIE/--cookie-file",
    "service-account": "the pod's ServiceAccount needs a projected token (audience pipelines.kubeflow.org) "
    "and a kubeflow-edit RoleBinding in the profile namespace",
}


class SubmitError(Exception):
    """Bad input, found before anything was sent; the message is one line naming it and the fix."""


class BackendError(SubmitError):
    """The backend is unreachable, refused the credentials or the request, or the run failed; one line."""


@dataclass(frozen=True)
class Auth:
    """What kfp.Client needs for one auth mode, the headers it will send, and the secrets to redact."""

    mode: str
    client_kwargs: dict[str, Any]
    headers: dict[str, str]
    secrets: tuple[str, ...]


def _read_secret(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as secret_file:
            secret = secret_file.read().strip()
    except OSError as error:
        raise SubmitError(f"cannot read the {what} file {path}: {error.strerror}") from None
    if not secret:
        raise SubmitError(f"the {what} file {path} is empty")
    return secret


def select_auth(mode: str, token_file: str | None, cookie_file: str | None, env: Mapping[str, str]) -> Auth:
    """Resolves --auth into kfp.Client arguments; secrets are read from files or env, never from argv."""
    if mode == "none":
        return Auth(mode, {}, {}, ())
    if mode == "token":
        token = _read_secret(token_file, "token") if token_file else env.get("KF_PIPELINES_TOKEN", "").strip()
        if not token:
            raise SubmitError("--auth token needs KF_PIPELINES_TOKEN in the environment or --token-file PATH")
        return Auth(mode, {"existing_token": token}, {"Authorization": f"Bearer {token}"}, (token,))
    if mode == "cookie":
        cookie = _read_secret(cookie_file, "cookie") if cookie_file else env.get("KF_PIPELINES_COOKIE", "").strip()
        if not cookie:
            raise SubmitError("--auth cookie needs KF_PIPELINES_COOKIE in the environment or --cookie-file PATH")
        values = tuple(part.partition("=")[2] for part in cookie.split(";"))  # redact each value alone too
        return Auth(mode, {"cookies": cookie}, {"Cookie": cookie}, (cookie, *values))
    if mode == "service-account":
        from kfp.client import ServiceAccountTokenVolumeCredentials

        path = token_file or env.get(SA_TOKEN_ENV) or SA_TOKEN_DEFAULT
        token = _read_secret(path, "ServiceAccount token")
        credentials = ServiceAccountTokenVolumeCredentials(path)
        return Auth(mode, {"credentials": credentials}, {"Authorization": f"Bearer {token}"}, (token,))
    raise SubmitError(f"unknown --auth '{mode}'")


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replaces every secret in `text` with ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@contextlib.contextmanager
def redacted_logging(secrets: Sequence[str], verbose: bool) -> Iterator[None]:
    """Redacts secrets from every log record; shows kfp/urllib3 logs only with --verbose."""
    old_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)
        with contextlib.suppress(TypeError, ValueError):  # a malformed record is left for logging to report
            record.msg, record.args = redact(record.getMessage(), secrets), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
        return record

    handler = logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler()
    root = logging.getLogger()
    old_levels = {name: logging.getLogger(name).level for name in ("", *HTTP_LOGGERS)}
    logging.setLogRecordFactory(factory)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else max(root.level, logging.WARNING))
    try:
        yield
    finally:
        root.removeHandler(handler)
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)
        logging.setLogRecordFactory(old_factory)


def network_reason(error: Exception) -> str:
    text = str(getattr(error, "reason", None) or error)
    return text.split("Failed to establish a new connection: ")[-1]


def check_backend(host: str, auth: Auth, timeout: float = 15.0) -> dict[str, Any]:
    """One GET of /apis/v2beta1/healthz with the auth headers; turns failures into one clear message.

    kfp.Client would retry a failing healthz for 25 s and log tracebacks, so this runs first.
    """
    url = f"{host}/apis/v2beta1/healthz"
    try:
        pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())  # as kfp_server_api does
        response = pool.request("GET", url, headers=auth.headers, retries=False, redirect=False, timeout=timeout)
    except urllib3.exceptions.HTTPError as error:
        raise BackendError(
            f"cannot reach the KFP API at {host} ({network_reason(error)}); check --host/KF_PIPELINES_ENDPOINT "
            "and that the port-forward or ingress is up"
        ) from None
    if response.status in (401, 403) or 300 <= response.status < 400:
        what = f"HTTP {response.status}" + (" redirect to a login page" if response.status < 400 else "")
        raise BackendError(f"{host} rejected the request ({what}) with --auth {auth.mode}: {AUTH_HINTS[auth.mode]}")
    health = None
    with contextlib.suppress(ValueError):  # a login page or proxy error is not JSON
        health = json.loads(response.data) if response.status == 200 else None
    if not isinstance(health, dict):
        raise BackendError(
            f"no KFP v2beta1 API at {url} (HTTP {response.status}); check --host "
            "(Kubeflow: http://<gateway>/pipeline, standalone: the ml-pipeline-ui address) and that KFP is >= 2.0"
        )
    return health


def describe_api_error(error: Exception, action: str, auth: Auth) -> BackendError:
    """One line for a kfp_server_api.ApiException, with the server's message and no secrets."""
    status = getattr(error, "status", 0)
    if status in (401, 403):
        return BackendError(
            f"the KFP API rejected {action} (HTTP {status}) with --auth {auth.mode}: {AUTH_HINTS[auth.mode]}"
        )
    detail = str(getattr(error, "reason", "") or "")
    with contextlib.suppress(ValueError, AttributeError):  # the KFP API answers {"error": …, "message": …}
        body = json.loads(getattr(error, "body", None) or "{}")
        detail = body.get("message") or body.get("error") or detail
    detail = redact(" ".join(str(detail).split())[:300], auth.secrets)
    return BackendError(f"the KFP API refused {action} (HTTP {status}): {detail}")
