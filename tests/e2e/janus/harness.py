"""Real parts for the Janus tests, all inside a network namespace the test creates.

Janus never gathers ICE candidates on loopback, so the tests run in a fresh
network namespace (`unshare -n`, as root) with a veth pair: nothing inside can
reach, or be reached from, any other network. Everything started here (Janus,
Chromium) is a child process stopped by its pid.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import websockets

REPO = Path(__file__).resolve().parents[3]
HOST = "10.99.0.1"  # where media (ICE) flows; signalling stays on 127.0.0.1
JANUS_HOST = "127.0.0.1"
JANUS_PORT = 8188
ROOM = 1234
PAGE = Path(__file__).with_name("participant.html")
CHROMIUM = "/usr/bin/chromium"


def enter_network_namespace() -> None:
    """Run as root right after `unshare -n`: loopback up and one veth pair, addressed 10.99.0.1."""
    for command in (
        "ip link set lo up",
        "ip link add veth0 type veth peer name veth1",
        f"ip addr add {HOST}/24 dev veth0",
        "ip link set veth0 up",
        "ip link set veth1 up",
    ):
        subprocess.run(command.split(), check=True)


def wait_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


class JanusServer:
    """deploy/janus, copied, with ICE pinned to the namespace's veth interface."""

    def __init__(self, workdir: Path) -> None:
        self.config = workdir / "janus"
        shutil.copytree(REPO / "deploy" / "janus", self.config)
        main = self.config / "janus.jcfg"
        main.write_text(main.read_text().replace("nat: {", 'nat: {\n\tice_enforce_list = "veth0"'))
        self.log = workdir / "janus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(["janus", "-F", str(self.config), "-o"], stdout=log, stderr=log)
        wait_port(JANUS_HOST, JANUS_PORT, 20)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


class Browser:
    """One headless Chromium whose fake microphone plays a real speech recording."""

    _ports = itertools.count(9301)

    def __init__(self, workdir: Path, name: str, speech: Path) -> None:
        self.name = name
        self.port = next(self._ports)
        self.profile = workdir / f"chromium-{name}"
        self.log = workdir / f"chromium-{name}.log"
        args = [
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={self.profile}", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech.resolve()}", "--autoplay-policy=no-user-gesture-required",
            "--allow-file-access-from-files", f"--remote-debugging-port={self.port}",
            "--remote-debugging-address=127.0.0.1", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints", "about:blank",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        wait_port("127.0.0.1", self.port, 30)
        self._ids = itertools.count(1)

    def open(self, display: str, bot: str) -> Page:
        query = urllib.parse.urlencode({"server": f"ws://{JANUS_HOST}:{JANUS_PORT}", "room": ROOM, "display": display, "bot": bot})
        url = urllib.parse.quote(f"{PAGE.as_uri()}?{query}", safe="")
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?{url}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as reply:
            target = json.load(reply)
        return Page(display, target["webSocketDebuggerUrl"])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A participant page, read and driven over the DevTools protocol."""

    def __init__(self, display: str, debugger_url: str) -> None:
        self.display = display
        self.debugger_url = debugger_url
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        async with websockets.connect(self.debugger_url, max_size=1 << 22) as devtools:
            call_id = next(self._ids)
            await devtools.send(json.dumps({"id": call_id, "method": "Runtime.evaluate",
                                            "params": {"expression": expression, "returnByValue": True}}))
            while True:
                reply = json.loads(await devtools.recv())
                if reply.get("id") == call_id:
                    return reply.get("result", {}).get("result", {}).get("value")

    async def state(self) -> dict[str, Any]:
        return await self.evaluate("JSON.parse(JSON.stringify(window.state || {}))") or {}


async def until(
    condition: Any, timeout: float, what: str, every: float = 0.25, unless: asyncio.Future[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if unless is not None and unless.done():
            raise RuntimeError(f"the session ended ({unless.result()!r}) while waiting for {what}")
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


def private_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sessionbot-janus-"))
