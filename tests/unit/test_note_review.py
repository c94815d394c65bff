"""The review server of `sessionbot review` over real loopback HTTP, and the reviewed files it writes.

Checks what the clinician and the privacy promise rely on: the token is required, only this
computer and this server's own Host are answered, a malformed save is a clear 400 that writes
nothing and loses nothing (the server keeps waiting and a good save still works), and the
reviewed version is owner-only, says it was reviewed, keeps the evidence of kept statements and
marks edited ones as the clinician's wording.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from bot.notes.base import Evidence, Note, Section, SessionFacts, Statement
from bot.notes.render import write_note
from bot.notes.review import ReviewServer, refusal
from bot.notes.reviewed import ReviewError, load_draft
from bot.transcribe.segment import Segment

HOSTILE = "<script>alert(1)</script> *bold* \u202eevil"


def segment(i: int, who: str, role: str, text: str) -> Segment:
    return Segment(f"S{i}", "s1", "p1" if role == "clinician" else "p2", who, role, 10.0 * i, 10.0 * i + 7, text,
                   "en", 0.9)


TRANSCRIPT = (
    segment(1, "Dr. Lee", "clinician", "How has the week been?"),
    segment(2, "Sam <b>", "client", "I sleep about six hours a night now."),
    segment(3, "Sam <b>", "client", "Some nights I think about ending it all."),
    segment(4, "Dr. Lee", "clinician", "Keep the sleep diary and practise the breathing exercise."),
)


def draft_note() -> Note:
    ev = {s.id: Evidence.of(s) for s in TRANSCRIPT}
    sections = (
        Section("Risk language mentioned", (Statement("Self-harm (lexicon): Sam said \u201cSome nights I think about "
                                                      "ending it all.\u201d", (ev["S3"],)),)),
        Section("Subjective", (Statement("Client reports sleeping about six hours a night.", (ev["S2"],)),
                               Statement("Clinician asked about the week.", (ev["S1"],)))),
        Section("Plan", (Statement("Client is to keep the sleep diary.", (ev["S4"],)),)),
    )
    facts = SessionFacts("s1", "2026-11-23T10:00:00+00:00", 50.0, "en",
                         ({"id": "p1", "display_name": "Dr. Lee", "role": "clinician"},
                          {"id": "p2", "display_name": "Sam <b>", "role": "client"}))
    return Note("soap", facts, sections, transcript=TRANSCRIPT, risk_flags=(), purposes=("notes", "risk_flags"))


@pytest.fixture
def server(tmp_path: Path) -> Any:
    markdown, _ = write_note(draft_note(), tmp_path / "notes", include_transcript=True, stem="n")
    review = ReviewServer(load_draft(markdown))
    review.start()
    yield review
    review.close()


def request(server: ReviewServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post(server: ReviewServer, payload: Any, content_type: str = "application/json",
         extra: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, raw = request(server, "POST", f"/{server.token}/save", body,
                          {"Content-Type": content_type, **(extra or {})})
    return status, json.loads(raw)


def decisions(**changes: dict[str, str]) -> dict[str, Any]:
    every = {sid: {"action": "keep"} for sid in ("st-1-1", "st-2-1", "st-2-2", "st-3-1")}
    return {"decisions": every | {k.replace("_", "-"): v for k, v in changes.items()}}


def reviewed_files(server: ReviewServer) -> list[Path]:
    return [p for p in server.draft.json_path.parent.iterdir() if ".reviewed." in p.name]


def test_the_page_needs_the_token_and_shows_each_statement_with_its_evidence(server: ReviewServer) -> None:
    for path in ("/", "/favicon.ico", f"/{server.token[:-1]}x/", f"/x{server.token}/", f"/{server.token}x/save"):
        status, body = request(server, "GET", path)
        assert status == 403 and b"review token" in body, path
    assert request(server, "POST", "/nope/save", b"{}", {"Content-Type": "application/json"})[0] == 403
    status, page = request(server, "GET", f"/{server.token}/")
    assert status == 200
    text = page.decode()
    assert len(re.findall(r'<li class="statement kept" id="st-\d-\d"', text)) == 4
    assert "Sam <b>" not in text and "Sam &lt;b&gt;" in text
    assert "Sam &lt;b&gt;:</span> Some nights I think about ending it all." in text  # evidence: who + what
    assert text.count('<button type="button" data-act="edit">') == 3 and text.count('<button type="button" data-act="remove">') == 4  # a risk quote: no edit
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', text)
    assert policy and "script-src 'sha256-" in policy.group(1) and "connect-src 'self'" in policy.group(1)
    assert len(re.findall(r"<script>", text)) == 1 and "https://" not in text and "http://" not in text


def test_only_loopback_and_this_servers_own_host_are_answered(server: ReviewServer) -> None:
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1:{server.port + 1}", "127.0.0.1"):
        status, body = request(server, "GET", f"/{server.token}/", headers={"Host": host})
        assert status == 403 and b"Host must be" in body, host
    status, _ = post(server, decisions(), extra={"Origin": "http://evil.example"})
    assert status == 403 and not reviewed_files(server)
    assert refusal("GET", f"/{server.token}/", f"127.0.0.1:{server.port}", "192.168.1.20", None, server.port,
                   server.token).status == 403  # a non-loopback peer, whatever it sends
    assert refusal("GET", f"/{server.token}/", f"127.0.0.1:{server.port}", "127.0.0.1", None, server.port,
                   server.token) is None
    for host in ("0.0.0.0", "192.168.1.20", "example.org", "::"):
        with pytest.raises(ValueError, match="loopback only"):
            ReviewServer(server.draft, host=host)


@pytest.mark.parametrize(("payload", "content_type", "says"), [
    (b"{not json", "application/json", "not valid JSON"),
    (b"\xff\xfe", "application/json", "not valid JSON"),
    (json.dumps(decisions()).encode(), "text/plain", "Content-Type: application/json"),
    ([1, 2], "application/json", '{"decisions"'),
    ({"decisions": {"st-1-1": {"action": "keep"}}}, "application/json", "missing ['st-2-1'"),
    (decisions(st_9_9={"action": "keep"}), "application/json", "unknown ['st-9-9']"),
    (decisions(st_2_1={"action": "delete"}), "application/json", "keep, edit, remove"),
    (decisions(st_2_1={"action": "edit", "text": "  \n "}), "application/json", "needs its new text"),
    (decisions(st_2_1={"action": "edit", "text": "x" * 5000}), "application/json", "at most 4000"),
    (decisions(st_1_1={"action": "edit", "text": "Client said nothing of the kind."}), "application/json",
     "verbatim quote"),
])
def test_a_malformed_save_is_a_clear_400_and_nothing_is_lost(server: ReviewServer, payload: Any, content_type: str,
                                                             says: str) -> None:
    draft_before = hashlib.sha256(server.draft.json_path.read_bytes()).hexdigest()
    status, answer = post(server, payload, content_type)
    assert status == 400 and says in answer["error"]
    assert not reviewed_files(server) and not server.state.done.is_set()
    assert hashlib.sha256(server.draft.json_path.read_bytes()).hexdigest() == draft_before == server.draft.sha256
    status, answer = post(server, decisions(st_2_2={"action": "remove"}))  # the same server still takes a good save
    assert status == 200 and answer["saved"] == ["n.reviewed.md", "n.reviewed.json"]


def test_a_save_writes_the_reviewed_version_owner_only_and_ends_the_review(server: ReviewServer) -> None:
    status, answer = post(server, decisions(st_2_2={"action": "remove"},
                                            st_3_1={"action": "edit", "text": f"Client will keep a diary. {HOSTILE}"}))
    assert status == 200
    saved = server.wait(5)
    assert [p.name for p in saved] == ["n.reviewed.md", "n.reviewed.json"]
    for path in saved:
        assert path.parent == server.draft.json_path.parent and stat.S_IMODE(path.stat().st_mode) == 0o600
    markdown, data = saved[0].read_text(), json.loads(saved[1].read_text())
    assert data["reviewed"] is True and data["draft"] is False and re.match(r"\d{4}-\d\d-\d\dT", data["reviewed_at"])
    assert data["reviewed_from"] == {"file": "n.json", "sha256": server.draft.sha256}
    assert data["statement_ids"] == {"kept": ["st-1-1", "st-2-1"], "edited": ["st-3-1"], "removed": ["st-2-2"]}
    statements = {st["id"]: st for s in data["sections"] for st in s["statements"]}
    assert statements["st-2-1"]["machine_checked"] is True and statements["st-2-1"]["evidence"][0]["segment_id"] == "S2"
    edited = statements["st-3-1"]
    assert edited["status"] == "edited" and edited["machine_checked"] is False
    assert edited["draft_text"] == "Client is to keep the sleep diary." and edited["draft_evidence"][0]["segment_id"] == "S4"
    assert "\u202e" not in edited["text"] and edited["text"].startswith("Client will keep a diary.")
    assert "Reviewed by the clinician at " + data["reviewed_at"] in markdown
    assert "Client reports sleeping about six hours a night. ([S2 00:00:20\u201300:00:27](#S2))" in markdown
    assert "Clinician asked about the week." not in markdown.split("## Transcript")[0]  # removed
    assert "- _[edited by the clinician]_ Client will keep a diary. \\<script\\>alert(1)\\</script\\> \\*bold\\* evil " \
           "(draft cited: [S4 00:00:40\u201300:00:47](#S4))" in markdown
    assert "Some nights I think about ending it all." in markdown.split("## Subjective")[0]  # the kept risk quote
    assert '<a id="S2"></a>' in markdown  # kept statements' links still have their targets
    assert hashlib.sha256(server.draft.json_path.read_bytes()).hexdigest() == server.draft.sha256  # draft untouched
    assert server.draft.json_path.with_suffix(".md").read_text().startswith("# Session note (draft)")


def test_reopening_the_review_starts_from_the_saved_decisions(server: ReviewServer) -> None:
    assert post(server, decisions(st_2_2={"action": "remove"}, st_3_1={"action": "edit", "text": HOSTILE}))[0] == 200
    server.wait(5)
    again = ReviewServer(load_draft(server.draft.json_path))
    page = again.page().decode()
    again.close()
    assert re.search(r'<li class="statement removed" id="st-2-2"', page)
    assert re.search(r'<li class="statement edited" id="st-3-1"[^>]*data-draft="Client is to keep the sleep diary\."', page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; *bold* evil</span>" in page and "\u202e" not in page


def test_only_a_draft_with_its_json_can_be_reviewed(tmp_path: Path, server: ReviewServer) -> None:
    with pytest.raises(ReviewError, match="not found beside"):
        load_draft(tmp_path / "missing.md")
    reviewed = server.draft.json_path.with_name("n.reviewed.json")
    reviewed.write_text("{}")
    with pytest.raises(ReviewError, match="already a reviewed version"):
        load_draft(reviewed)
    (tmp_path / "bad.json").write_text('{"draft": true}')
    with pytest.raises(ReviewError, match="not a drafted note"):
        load_draft(tmp_path / "bad.json")
