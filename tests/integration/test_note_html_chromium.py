"""The note's HTML view, opened in real headless Chromium through the DevTools protocol.

Checks what a clinician relies on: the page loads from disk and renders (visible banner,
sections and transcript; no script error, no console error, no blocked request), and every
citation link of every statement resolves to a line of the transcript section. The review page
served by `sessionbot review` is driven with real mouse clicks and typing: a click shows a
statement's evidence, one statement is removed, one edited, the save writes the reviewed
version owner-only. Skips with a reason when Chromium is not installed (scripts/setup.sh
installs the Debian package).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
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
from bot.notes.render import write_note
from bot.notes.review import ReviewServer
from bot.notes.reviewed import load_draft
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
  const links = [...document.querySelectorAll('section li.statement .cite a')];
  const broken = links.filter(a => {
    const target = document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
    return !target || !target.closest('ol.transcript');
  }).map(a => a.getAttribute('href'));
  const statements = document.querySelectorAll('section li.statement').length;
  const uncited = [...document.querySelectorAll('section li.statement')].filter(li => !li.querySelector('.cite a')).length;
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
    markdown, _ = write_note(note, tmp_path / "notes", include_transcript=True)  # the draft `sessionbot review` reads
    return write_html(note, tmp_path / "notes", include_transcript=True, stem=markdown.stem)


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
         "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", f"--user-data-dir={profile}",
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


def page_problems(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "warning"))]


async def evaluate(devtools: DevTools, expression: str) -> Any:
    result = await devtools.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in result:
        raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


async def click(devtools: DevTools, selector: str) -> None:
    """A real mouse click (press and release) at the middle of the element, as a clinician would."""
    box = await evaluate(devtools, f"""(() => {{
      const el = document.querySelector({json.dumps(selector)});
      el.scrollIntoView({{block: 'center'}});
      const r = el.getBoundingClientRect();
      return {{x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2}};
    }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        await devtools.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)


EDITED = "Client will keep a sleep diary <script>alert(1)</script> *nightly*"

EVIDENCE_OF = """(id => {
  const el = document.getElementById(id).querySelector(':scope > .evidence');
  return {shown: getComputedStyle(el).display !== 'none' && el.offsetHeight > 0, text: el.textContent};
})"""


async def review_in_chromium(url: str, port: int, ids: list[str]) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:  # loopback only
        target = next(t for t in json.load(response) if t["type"] == "page")
    async with websockets.connect(target["webSocketDebuggerUrl"], max_size=1 << 24) as socket:
        devtools = DevTools(socket)
        for domain in ("Page", "Runtime", "Log"):
            await devtools.call(f"{domain}.enable")
        await devtools.call("Page.navigate", url=url)
        await devtools.wait_event("Page.loadEventFired", 20)
        shown, clicked, removed, edited = ids[0], ids[1], ids[2], ids[3]
        found: dict[str, Any] = {"before": await evaluate(devtools, f"{EVIDENCE_OF}({json.dumps(clicked)})")}
        await click(devtools, f"#{clicked} > .text")
        found["after"] = await evaluate(devtools, f"{EVIDENCE_OF}({json.dumps(clicked)})")
        await click(devtools, f'#{removed} button[data-act="remove"]')
        await click(devtools, f'#{edited} button[data-act="edit"]')
        assert await evaluate(devtools, "document.activeElement.tagName") == "TEXTAREA"
        await evaluate(devtools, "document.activeElement.select()")
        await devtools.call("Input.insertText", text=EDITED)  # typed into the focused editor
        await click(devtools, f'#{edited} button[data-act="edit"]')  # "Done"
        found["classes"] = await evaluate(devtools, f"[{json.dumps(removed)}, {json.dumps(edited)}, "
                                                    f"{json.dumps(shown)}].map(id => document.getElementById(id).className)")
        await click(devtools, "#save")
        deadline = time.monotonic() + 15
        while await evaluate(devtools, "document.body.dataset.saved || ''") != "1":
            if time.monotonic() > deadline:
                raise TimeoutError(await evaluate(devtools, "document.getElementById('status').textContent"))
            await asyncio.sleep(0.1)
        found["status"] = await evaluate(devtools, "document.getElementById('status').textContent")
        found["problems"] = page_problems(devtools.events)
        return found


@requirement("chromium", CHROMIUM is not None, "headless Chromium is not installed (Debian package `chromium`; "
                                                "scripts/setup.sh installs it)")
def test_a_clinician_sees_evidence_removes_edits_and_saves_the_reviewed_version(tmp_path: Path) -> None:
    draft = load_draft(note_html(tmp_path))
    ids = [f"st-{i + 1}-{j + 1}" for i, s in enumerate(draft.note.sections) for j, _ in enumerate(s.statements)]
    risk = [sid for sid in ids if sid.startswith("st-1-")] if draft.note.risk_flags is not None else []
    assert risk, "the fixture's 'ending it all' should be flagged: the review must keep risk quotes verbatim"
    ordinary = [sid for sid in ids if sid not in risk]
    assert len(ordinary) >= 3
    order = [risk[0], *ordinary[:3]]  # shown: the risk quote, kept; then the clicked, the removed, the edited
    statements = {f"st-{i + 1}-{j + 1}": st for i, s in enumerate(draft.note.sections) for j, st in enumerate(s.statements)}
    server = ReviewServer(draft)
    server.start()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    process, port = start_chromium(profile)
    try:
        found = asyncio.run(review_in_chromium(server.url, port, order))
        saved = server.wait(10)
    finally:
        process.kill()
        process.wait(10)
        server.close()
    clicked, removed, edited = order[1], order[2], order[3]
    assert found["problems"] == []
    assert not found["before"]["shown"] and found["after"]["shown"]
    cited = {s.id: s for s in draft.note.transcript}
    for evidence in statements[clicked].evidence:  # speaker, time and what was said, as the transcript has it
        assert evidence.speaker in found["after"]["text"] and cited[evidence.segment_id].text in found["after"]["text"]
    assert "removed" in found["classes"][0] and "edited" in found["classes"][1] and "kept" in found["classes"][2]
    assert found["status"].startswith("Saved:")
    markdown_path, json_path = saved
    assert (markdown_path.name, json_path.name) == (f"{draft.stem}.reviewed.md", f"{draft.stem}.reviewed.json")
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 and p.parent == draft.json_path.parent for p in saved)
    data = json.loads(json_path.read_text())
    assert data["reviewed"] is True and data["reviewed_from"]["sha256"] == draft.sha256
    assert data["statement_ids"]["removed"] == [removed] and data["statement_ids"]["edited"] == [edited]
    assert sorted(data["statement_ids"]["kept"]) == sorted(set(ids) - {removed, edited})
    markdown = markdown_path.read_text().split("## Transcript")[0]
    assert statements[removed].text not in markdown
    assert "_[edited by the clinician]_ Client will keep a sleep diary \\<script\\>alert(1)\\</script\\> \\*nightly\\*" \
        in markdown
    for sid in data["statement_ids"]["kept"]:  # kept statements keep their evidence links
        evidence = statements[sid].evidence[0]
        assert f"(#{evidence.segment_id})" in markdown
    risk_quote = statements[risk[0]].text.split("\u201c")[1].rstrip("\u201d")
    assert risk_quote in markdown  # the risk flag: still a verbatim quote
