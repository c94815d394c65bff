"""The note's HTML view, opened in real headless Chromium through the DevTools protocol.

Checks what a clinician relies on: the page loads from disk and renders (visible banner,
sections and transcript; no script error, no console error, no blocked request), and every
citation link of every statement resolves to a line of the transcript section. Skips with a
reason when Chromium is not installed (scripts/setup.sh installs the Debian package).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.requirements import requirement
import websockets

from bot.notes.base import SessionFacts
from bot.notes.embedding import TfidfEmbedder
from bot.notes.html import write_html
from bot.notes.structured import StructuredNoteGenerator
from bot.transcribe.segment import Segment

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

TURNS = [
    ("clinician", "Welcome back. How has the week been?"),
    ("client", "I have been sleeping about six hours a night, which is better than before."),
    ("client", "Work has been stressful and I argued with my manager on Tuesday."),
    ("clinician", "It sounds like the sleep routine is helping, and work is the main stressor."),
    ("client", "Some nights I think about ending it all."),
    ("clinician", "Let's keep the sleep diary and practise the breathing exercise before bed."),
    ("client", "Okay, I will try the breathing exercise every night."),
]

# Every statement link must point at an element inside the transcript list; returns what does not.
CHECK_LINKS = """(() => {
  const links = [...document.querySelectorAll('section .cite a')];
  const broken = links.filter(a => {
    const target = document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
    return !target || !target.closest('ol.transcript');
  }).map(a => a.getAttribute('href'));
  const statements = document.querySelectorAll('section li').length;
  const uncited = [...document.querySelectorAll('section li')].filter(li => !li.querySelector('.cite a')).length;
  const transcript = document.querySelector('ol.transcript');
  return {links: links.length, broken, statements, uncited,
          transcriptLines: transcript ? transcript.children.length : 0,
          transcriptHeight: transcript ? transcript.getBoundingClientRect().height : 0,
          bannerVisible: !!document.querySelector('.banner') && document.querySelector('.banner').offsetHeight > 0,
          title: document.title, scripts: document.scripts.length};
})()"""


def note_html(tmp_path: Path) -> Path:
    segments = [
        Segment(f"S{i + 1}", "s1", "p1" if role == "clinician" else "p2", "Dr. Lee" if role == "clinician" else "Sam",
                role, 10.0 * i, 10.0 * i + 7, text, "en", 0.9)
        for i, (role, text) in enumerate(TURNS)
    ]
    facts = SessionFacts("s1", "2026-11-23T10:00:00+00:00", 80.0, "en",
                         ({"id": "p1", "display_name": "Dr. Lee", "role": "clinician"},
                          {"id": "p2", "display_name": "Sam", "role": "client"}))
    generator = StructuredNoteGenerator(embedder=TfidfEmbedder())  # what is tested here is the page, not the model
    note = generator.generate(segments, facts, "soap", frozenset({"notes", "risk_flags", "client_summary"}))
    assert sum(len(s.statements) for s in note.sections) >= 3
    return write_html(note, tmp_path / "notes", include_transcript=True)


class DevTools:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        call_id = self.next_id
        await self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_event(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(method)
            self.events.append(json.loads(await asyncio.wait_for(self.socket.recv(), remaining)))


def start_chromium(profile: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    port_file = profile / "DevToolsActivePort"  # Chromium writes the port it picked here
    deadline = time.monotonic() + 30
    while not (port_file.is_file() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("headless Chromium did not start its DevTools endpoint")
        time.sleep(0.1)
    return process, int(port_file.read_text().splitlines()[0])


async def inspect(page: Path, port: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:  # loopback only
        target = next(t for t in json.load(response) if t["type"] == "page")
    async with websockets.connect(target["webSocketDebuggerUrl"], max_size=1 << 24) as socket:
        devtools = DevTools(socket)
        for domain in ("Page", "Runtime", "Log"):
            await devtools.call(f"{domain}.enable")
        await devtools.call("Page.navigate", url=page.as_uri())
        await devtools.wait_event("Page.loadEventFired", 20)
        result = await devtools.call("Runtime.evaluate", expression=CHECK_LINKS, returnByValue=True)
        problems = [e for e in devtools.events if e.get("method") == "Runtime.exceptionThrown"
                    or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))
                    or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "warning"))]
        return result["result"]["value"], problems


@requirement("chromium", CHROMIUM is not None, "headless Chromium is not installed (Debian package `chromium`; "
                                                "scripts/setup.sh installs it)")
def test_the_html_note_renders_and_every_evidence_link_resolves(tmp_path: Path) -> None:
    page = note_html(tmp_path)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    process, port = start_chromium(profile)
    try:
        found, problems = asyncio.run(inspect(page, port))
    finally:
        process.kill()
        process.wait(10)
    assert problems == []
    assert found["transcriptLines"] == len(TURNS) and found["transcriptHeight"] > 0 and found["bannerVisible"]
    assert found["links"] >= found["statements"] >= 3 and found["uncited"] == 0
    assert found["broken"] == []
    assert found["scripts"] == 0 and found["title"].startswith("Session note (draft)")
