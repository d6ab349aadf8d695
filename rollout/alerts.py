"""Posting decisions and alarms to a webhook: a JSON body with `text` (what Slack's incoming webhooks show) and the
same facts as structured fields for generic receivers.

The URL is a secret (Slack's carries its token): it comes from the environment variable rollout.webhook.url_env, or
rollout.webhook.url, and is never printed or logged; errors name the setting it came from instead. Each post has a
timeout and a few retries with backoff; a receiver that stays down is a warning, never a failed decision.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.config_rollout import WebhookConfig

BACKOFF_SECONDS = 1.0  # then 2 s, 4 s ...


def webhook(config: WebhookConfig, environ: Mapping[str, str] = os.environ) -> tuple[str | None, str]:
    """(URL or None, where it came from: the setting to name in messages instead of the URL)."""
    if environ.get(config.url_env):
        return environ[config.url_env], f"${config.url_env}"
    if config.url:
        return config.url, "rollout.webhook.url"
    return None, f"${config.url_env} (not set)"


def message(event: str, model: str, version: int, action: str, reason: str, **fields: Any) -> dict[str, Any]:
    """The body: `text` for Slack, and the structured fields."""
    headline = {"start": "started a rollout of", "promote": "promoted", "rollback": "rolled back", "alarm": "alarm for"}
    text = f"[kfx rollout] {model}: {headline.get(action, action)} version {version}: {reason}"
    return {"text": text, "event": event, "model": model, "version": version, "action": action, "reason": reason,
            **fields}  # fmt: skip


def post(
    url: str,
    body: dict[str, Any],
    source: str,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Posts the body; returns None once a receiver took it (2xx), else a warning that never shows the URL."""
    data = json.dumps(body, default=str).encode()
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                reply.read()
            return None
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code} {error.reason}"
        except (OSError, ValueError) as error:
            problem = str(getattr(error, "reason", error))
    return f"the webhook ({source}) did not take the alert after {retries + 1} attempt(s): {redact(problem, url)}"


def redact(text: str, url: str) -> str:
    """`text` without the URL or any part of its path or query (where tokens live)."""
    parsed = urllib.parse.urlsplit(url)
    for secret in (url, parsed.path + ("?" + parsed.query if parsed.query else ""), parsed.path, parsed.query):
        if secret and secret != "/":
            text = text.replace(secret, "<redacted>")
    return text


def skew_alarms(report, report_path: str) -> list[dict[str, Any]]:
    """One alarm body per version of a `kfx monitor` skew report (monitoring.skew.SkewReport) with skew past a
    threshold."""
    bodies = []
    for version in report.versions:
        if version.over:
            past = ", ".join(f"{m.feature} {m.measure} {m.value:.4f} > {m.threshold:g}" for m in version.over)
            bodies.append(message("alarm", version.model, int(version.version), "alarm", f"skew past a threshold: "
                                  f"{past}", report=report_path, requests=version.requests))  # fmt: skip
    return bodies


def send(config: WebhookConfig, body: dict[str, Any], environ: Mapping[str, str] = os.environ) -> str | None:
    """Posts to the configured webhook, if there is one; returns a warning or None."""
    url, source = webhook(config, environ)
    if url is None:
        return None
    return post(url, body, source, config.timeout_seconds, config.retries)
