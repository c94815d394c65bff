"""The room page (bot/call/static/room.html) in real headless Chromium, joined to a real RoomServer
with two real RoomConnector peers: the bot ("Assistant", role bot) and a hostile client
("Mallory") that writes straight to its data channel. Checks that the page labels chat by the
peer whose channel carried it, never by the message's `from`; gives the bot styling only to the
server-verified bot; never renders HTML from a message; takes the consent question only from the
bot and sends the answer back; and that its leave button reaches the bot (and only the bot).

Chromium gathers no ICE candidates on loopback unless told to, and must not use the machine's
own address, so the scenario runs in a fresh network namespace (`unshare -n`, as root) that has
only `lo`: nothing inside can reach anything outside. Skips with the reason where that, or
Chromium, is not available.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.requirements import requirement
import websockets

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SPOOF = 'I am the assistant. Type <b>/stop</b> <img src=x onerror="window.pwned=1">'
BOT_SAYS = "Hello, I am the note-taking assistant."
QUESTION = "May I take notes of this session?"

pytestmark = pytest.mark.slow


def _namespace_available() -> bool:
    if not (os.path.exists(CHROMIUM) and shutil.which("unshare") and hasattr(os, "geteuid") and os.geteuid() == 0):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@requirement("netns", _namespace_available(), "needs /usr/bin/chromium and root for `unshare -n` "
             "(a network namespace with only loopback); run scripts/setup.sh as root")
def test_the_page_labels_chat_by_its_link_and_asks_and_leaves_only_through_the_bot(tmp_path: Path) -> None:
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.integration.test_room_page_chromium", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    lines = found["chat"]
    spoofed = next(line for line in lines if SPOOF in line["text"])
    # Mallory claimed to be the Assistant; the page says who she is.
    assert (spoofed["who"], spoofed["role"], spoofed["bot"], spoofed["badge"]) == ("Mallory", " (client)", False, False)
    genuine = next(line for line in lines if BOT_SAYS in line["text"])
    assert (genuine["who"], genuine["role"], genuine["bot"], genuine["badge"]) == ("Assistant", " (bot)", True, True)
    assert found["injected_elements"] == 0 and found["pwned"] is False
    assert found["modal_after_fake_question"] is False  # Mallory's ask-consent was ignored
    assert found["modal_text"] == QUESTION
    assert found["bot_consent"] == {"from": "Sam", "role": "client", "agreed": True}
    assert found["bot_leave_requests"] == ["Sam"]
    assert found["mallory_leave_requests"] == []  # the button speaks to the bot only
    assert found["page_errors"] == []


# -- the scenario, run inside the namespace ------------------------------------------------------


class Page:
    def __init__(self, debugger_url: str) -> None:
        self.debugger_url = debugger_url
        self._id = 0

    async def evaluate(self, expression: str) -> Any:
        async with websockets.connect(self.debugger_url, max_size=1 << 22) as devtools:
            self._id += 1
            await devtools.send(json.dumps({"id": self._id, "method": "Runtime.evaluate",
                                            "params": {"expression": expression, "returnByValue": True}}))
            while True:
                reply = json.loads(await devtools.recv())
                if reply.get("id") == self._id:
                    result = reply.get("result", {})
                    if "exceptionDetails" in result:
                        details = result["exceptionDetails"]
                        described = details.get("exception", {}).get("description", details.get("text"))
                        raise RuntimeError(f"page script failed: {described} in {expression[:120]}")
                    return result.get("result", {}).get("value")

    async def until(self, expression: str, what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed {what}")
            await asyncio.sleep(0.2)


def _start_chromium(profile: Path) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
         "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not (port_file.is_file() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("headless Chromium did not start its DevTools endpoint")
        time.sleep(0.1)
    return process, int(port_file.read_text().splitlines()[0])


def _open(port: int, url: str) -> Page:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{urllib.parse.quote(url, safe='')}",
                                     method="PUT")
    with urllib.request.urlopen(request, timeout=10) as reply:  # loopback, inside the namespace
        return Page(json.load(reply)["webSocketDebuggerUrl"])


READ_CHAT = """[...document.querySelectorAll('#chat .msg:not(.note)')].map(m => ({
  who: m.querySelector('.who') && m.querySelector('.who').textContent,
  role: m.querySelector('.role') && m.querySelector('.role').textContent,
  bot: m.classList.contains('bot'), badge: !!m.querySelector('.badge'),
  text: m.querySelector('.text') ? m.querySelector('.text').textContent : m.textContent}))"""


async def scenario(workdir: Path) -> dict[str, Any]:
    from bot.call.ice import use_host_addresses
    from bot.call.room import RoomConnector
    from bot.call.room_server import RoomServer
    from tests.integration.test_room_channel import Recorder, _channel_open, _raw_send
    from bot.call.base import ConsentAnswered, LeaveRequested, ParticipantJoined
    from tests.integration.conftest import wait_for

    use_host_addresses(["127.0.0.1"])
    async with RoomServer({"r": "tok"}, port=0) as room:
        bot = RoomConnector(room.link("r", role="clinician"), "Assistant", role="bot")
        await bot.join()
        bot_events = Recorder(bot)
        mallory = RoomConnector(room.link("r"), "Mallory", role="client")
        await mallory.join()
        mallory_events = Recorder(mallory)
        profile = workdir / "chromium-profile"
        profile.mkdir()
        chromium, port = _start_chromium(profile)
        try:
            page = _open(port, room.link("r").link + "&raw=1")
            await page.until("document.readyState === 'complete' && !!document.getElementById('join-form')",
                             "the room page loaded")
            await page.evaluate("window.errors = []; window.addEventListener('error', e => errors.push(String(e.message)));"
                                "document.getElementById('name').value = 'Sam';"
                                "document.getElementById('join-form').requestSubmit(); true")
            await wait_for(lambda: any(e.participant.display_name == "Sam" for e in bot_events.of(ParticipantJoined)))
            sam = next(e.participant.id for e in bot_events.of(ParticipantJoined) if e.participant.display_name == "Sam")
            await wait_for(lambda: _channel_open(bot, sam) and _channel_open(mallory, sam))

            # Mallory: a consent question (only the bot may ask), then chat claiming to be the assistant.
            _raw_send(mallory, sam, json.dumps({"type": "ask-consent", "text": "fake question"}))
            _raw_send(mallory, sam, json.dumps({"type": "chat", "from": "Assistant", "text": SPOOF}))
            await page.until(f"document.getElementById('chat').textContent.includes({json.dumps(SPOOF)})",
                             "Mallory's message")
            modal_after_fake = await page.evaluate("document.getElementById('consent').open")

            await bot.send_text(BOT_SAYS, to={sam})
            await bot.ask_consent(QUESTION, to={sam})
            await page.until("document.getElementById('consent').open", "the consent question")
            chat = await page.until(f"(() => {{ const c = {READ_CHAT}; "
                                    f"return c.some(l => l.text.includes({json.dumps(BOT_SAYS)})) && c; }})()",
                                    "the bot's message")
            modal_text = await page.evaluate("document.getElementById('consent-text').textContent")
            injected = await page.evaluate("document.querySelectorAll('#chat b, #chat img').length")
            await page.evaluate("document.getElementById('consent-agree').click(); true")
            await wait_for(lambda: bot_events.of(ConsentAnswered), timeout=10)
            await page.evaluate("document.getElementById('ask-leave').click(); true")
            await wait_for(lambda: bot_events.of(LeaveRequested), timeout=10)
            await asyncio.sleep(0.5)  # time for a (wrong) leave-request to reach Mallory too
            [consent] = bot_events.of(ConsentAnswered)
            return {
                "chat": chat,
                "injected_elements": injected,
                "pwned": await page.evaluate("window.pwned === 1"),
                "modal_after_fake_question": modal_after_fake,
                "modal_text": modal_text,
                "bot_consent": {"from": consent.participant.display_name, "role": consent.participant.role,
                                "agreed": consent.agreed},
                "bot_leave_requests": [e.participant.display_name for e in bot_events.of(LeaveRequested)],
                "mallory_leave_requests": [e.participant.display_name for e in mallory_events.of(LeaveRequested)],
                "page_errors": await page.evaluate("window.errors"),
            }
        finally:
            os.killpg(chromium.pid, signal.SIGKILL)
            chromium.wait(10)
            await mallory.leave()
            await bot.leave()


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with tempfile.TemporaryDirectory(dir=sys.argv[1]) as workdir:
        found = asyncio.run(asyncio.wait_for(scenario(Path(workdir)), 180))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
