"""Headless Chromium with networking blocked, for the self-contained HTML pages (run report, comparison): every
request a page makes is recorded, so a script, stylesheet, font or image fetched from anywhere but the file itself is
caught.

The browser is driven over the DevTools protocol (aiohttp's websocket client): the Network domain records every
request the page makes and every one that fails.
"""

import asyncio
import json
import os
import subprocess
import time

import aiohttp
import pytest

CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = ("file:", "data:", "about:")
# Every host name fails to resolve and every http(s) request goes to a closed local port: nothing can be fetched.
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9")


class _DevTools:
    """One page over the DevTools protocol, recording every request it makes and every one that fails."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse):
        self.socket, self.requested, self.failed, self.loaded, self._last_id = socket, [], [], False, 0

    async def _read(self) -> dict:
        message = json.loads((await self.socket.receive(timeout=60)).data)
        method = message.get("method")
        if method == "Network.requestWillBeSent":
            self.requested.append(message["params"]["request"]["url"])
        elif method == "Network.loadingFailed":
            self.failed.append(message["params"])
        elif method == "Page.loadEventFired":
            self.loaded = True
        return message

    async def call(self, method: str, **params) -> dict:
        self._last_id += 1
        await self.socket.send_json({"id": self._last_id, "method": method, "params": params})
        while (message := await self._read()).get("id") != self._last_id:
            pass
        return message["result"]

    async def open(self, url: str) -> str:
        """Loads `url` and returns the rendered DOM."""
        await self.call("Network.enable")
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)
        while not self.loaded:
            await self._read()
        await asyncio.sleep(0.5)  # let late requests (fonts, lazy images) start
        dom = await self.call("Runtime.evaluate", expression="document.documentElement.outerHTML")
        return dom["result"]["value"]


async def _load(port: int, url: str) -> tuple[str, list[str], list[dict]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in await response.json() if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            browser = _DevTools(socket)
            dom = await browser.open(url)
            return dom, browser.requested, browser.failed


def open_offline(path: str, profile: str) -> tuple[str, list[str], list[dict]]:
    """Opens the file in headless Chromium with networking blocked; returns (DOM, requested URLs, failed requests)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", *OFFLINE_FLAGS, "about:blank",
    ]  # fmt: skip
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, port = os.path.join(profile, "DevToolsActivePort"), ""
        deadline = time.monotonic() + 60
        while not port:  # Chromium writes the port it chose to this file once it listens
            assert browser.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.1)
            if os.path.exists(port_file):
                with open(port_file) as f:
                    port = f.read().split("\n")[0].strip()
        return asyncio.run(asyncio.wait_for(_load(int(port), "file://" + os.path.abspath(path)), timeout=120))
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def leaves_the_page(requested: list[str]) -> list[str]:
    return [url for url in requested if not url.startswith(LOCAL_SCHEMES)]
