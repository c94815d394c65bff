"""The optional OpenAI-compatible note generator, against a FAKE MODEL SERVER.

A real model server cannot run here, so each test starts a small HTTP server on 127.0.0.1
that speaks the chat-completions protocol and returns a scripted completion: some statements
supported by the transcript, some fabricated, some citing segments that do not exist. What is
real: the HTTP client, the request the generator sends, the evidence check and the fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.config import ConfigError, settings_from_mapping
from bot.notes.base import SessionFacts
from bot.notes.embedding import TfidfEmbedder
from bot.notes.model_server import UNSUPPORTED_PREFIX, ModelServerNoteGenerator, ModelServerSettings
from bot.notes.structured import StructuredNoteGenerator, make_generator
from bot.transcribe.segment import Segment

SESSION = [
    ("clinician", "How has your sleep been since we last met?"),
    ("client", "I have been sleeping about six hours a night, better than before."),
    ("client", "I still wake up at four and worry about work."),
    ("clinician", "Let's keep the sleep diary and try the breathing exercise before bed."),
]
FAKE_KEY = "fake-test-key-not-a-secret"


def seg(i: int, role: str, text: str) -> Segment:
    name = "Dr. Lee" if role == "clinician" else "Sam"
    return Segment(f"S{i}", "s1", "p1" if role == "clinician" else "p2", name, role, i * 10.0, i * 10.0 + 6, text,
                   "en", 0.9)


SEGMENTS = [seg(i + 1, role, text) for i, (role, text) in enumerate(SESSION)]
FACTS = SessionFacts("s1", "2026-11-23T10:00:00+00:00", 60.0, "en", ())

SCRIPTED_SECTIONS = [
    {"title": "Subjective", "statements": [
        {"text": "Client reports sleeping about six hours a night, better than before.", "segment_ids": ["S2"]},
        {"text": "Client reports daily panic attacks and chest pain.", "segment_ids": ["S3"]},  # fabricated
        {"text": "Client still wakes at four and worries about work.", "segment_ids": ["S99"]},  # no such segment
        {"text": "Client mentioned their mother.", "segment_ids": []},  # cites nothing
    ]},
    {"title": "Plan", "statements": [
        {"text": "Keep the sleep diary and try the breathing exercise before bed.", "segment_ids": ["S4"]},
    ]},
    {"title": "Diagnosis", "statements": [{"text": "Major depressive disorder.", "segment_ids": ["S2"]}]},  # not a section
]


def completion(content: str) -> dict[str, Any]:
    return {"id": "fake", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}


class FakeModelServer:
    """Fake OpenAI-compatible server: records each request and answers with `self.reply` (status, body, delay)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, Any, float] = (200, completion(json.dumps({"sections": SCRIPTED_SECTIONS})), 0.0)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status, payload, delay = fake.reply
                time.sleep(delay)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a handler still sleeping (the timeout test) must not hold up the test
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def generator(url: str, unsupported: str = "drop", timeout_s: float = 10.0, key_env: str | None = None):
    local = StructuredNoteGenerator(embedder=TfidfEmbedder())
    return ModelServerNoteGenerator(ModelServerSettings(url, "fake-model", key_env, timeout_s, 2.0, unsupported), local)


def statements(note) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {s.title: [st.text for st in s.statements] for s in note.sections}


def test_only_statements_the_transcript_supports_survive(server: FakeModelServer, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_MODEL_KEY", FAKE_KEY)
    note = generator(server.url, key_env="FAKE_MODEL_KEY").generate(SEGMENTS, FACTS, "soap", frozenset({"notes"}))
    got = statements(note)
    assert got["Subjective"] == ["Client reports sleeping about six hours a night, better than before."]
    assert got["Plan"] == ["Keep the sleep diary and try the breathing exercise before bed."]
    assert "Diagnosis" not in got  # the template has no such section
    assert not note.sections[1].statements and note.sections[1].empty_text.startswith("Not discussed")  # Objective
    ids = {s.id for s in SEGMENTS}
    assert note.cited_segment_ids() <= ids
    assert "1 not supported" in note.banner and "2 statement(s) citing no existing segment" in note.banner
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"
    sent = json.loads(request["json"]["messages"][1]["content"])
    assert [t["id"] for t in sent["transcript"]] == ["S1", "S2", "S3", "S4"]
    assert sent["transcript"][1] == {"id": "S2", "speaker": "Sam", "role": "client", "text": SESSION[1][1]}
    assert [s["title"] for s in sent["sections"]] == ["Subjective", "Objective", "Assessment", "Plan"]
    assert request["json"]["model"] == "fake-model"


def test_unsupported_statements_can_be_kept_flagged_for_review(server: FakeModelServer) -> None:
    note = generator(server.url, unsupported="flag").generate(SEGMENTS, FACTS, "soap", frozenset({"notes"}))
    assert statements(note)["Subjective"] == [
        "Client reports sleeping about six hours a night, better than before.",
        UNSUPPORTED_PREFIX + "Client reports daily panic attacks and chest pain.",
    ]


def test_risk_flags_stay_verbatim_from_the_local_check(server: FakeModelServer) -> None:
    risky = [*SEGMENTS, seg(5, "client", "Some nights I think about ending it all.")]
    note = generator(server.url).generate(risky, FACTS, "soap", frozenset({"notes", "risk_flags"}))
    assert note.risk_flags is not None and [f.segment_id for f in note.risk_flags] == ["S5"]
    assert "Some nights I think about ending it all." in note.sections[0].statements[0].text
    assert "Subjective" == note.sections[1].title


@pytest.mark.parametrize("reply, reason", [
    ((500, {"error": "overloaded"}, 0.0), "HTTP 500"),
    ((200, completion("Here is your note: the client is doing well."), 0.0), "not JSON"),
    ((200, {"unexpected": True}, 0.0), "not a chat completion"),
    ((200, completion(json.dumps({"sections": SCRIPTED_SECTIONS})), 2.0), "did not answer in time"),
])
def test_a_failing_server_falls_back_to_the_local_generator_and_says_so(
    server: FakeModelServer, reply: tuple[int, Any, float], reason: str,
) -> None:
    server.reply = reply
    note = generator(server.url, timeout_s=0.5).generate(SEGMENTS, FACTS, "soap", frozenset({"notes"}))
    assert "model server was not used" in note.banner and reason in note.banner and "local generator" in note.banner
    assert [s.title for s in note.sections] == ["Subjective", "Objective", "Assessment", "Plan"]
    assert all(st.evidence for s in note.sections for st in s.statements)


def test_an_unreachable_server_or_a_missing_key_falls_back(server: FakeModelServer, monkeypatch) -> None:
    monkeypatch.delenv("FAKE_MODEL_KEY", raising=False)
    note = generator(server.url, key_env="FAKE_MODEL_KEY").generate(SEGMENTS, FACTS, "soap", frozenset({"notes"}))
    assert "FAKE_MODEL_KEY" in note.banner and "not set" in note.banner and not server.requests
    closed = server.url.replace(str(server.server.server_address[1]), "9")  # the discard port: nothing listens
    note = generator(closed).generate(SEGMENTS, FACTS, "soap", frozenset({"notes"}))
    assert "could not be reached" in note.banner


def test_configuration_selects_it_only_when_asked_and_never_echoes_a_key() -> None:
    local = settings_from_mapping({"session": {"note_template": "soap"}}, "t.toml")
    assert local.notes.generator == "local" and local.notes.endpoint is None  # no default service
    assert isinstance(make_generator("soap", notes=local.notes), StructuredNoteGenerator)
    remote = settings_from_mapping({"notes": {"generator": "openai_compatible", "endpoint": "http://127.0.0.1:9/v1/",
                                              "model": "m", "api_key_env": "SITE_KEY"}}, "t.toml")
    made = make_generator("soap", notes=remote.notes)
    assert isinstance(made, ModelServerNoteGenerator) and made.settings.endpoint == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match=r"notes\.model.*needs both notes\.endpoint and notes\.model"):
        settings_from_mapping({"notes": {"generator": "openai_compatible"}}, "t.toml")
    with pytest.raises(ConfigError, match=r"notes\.endpoint.*http:// or https://") as error:
        settings_from_mapping({"notes": {"generator": "openai_compatible", "endpoint": "http://user:pw@host/v1",
                                         "model": "m"}}, "t.toml")
    with pytest.raises(ConfigError, match=r"notes\.api_key_env.*NAME of an environment variable") as error:
        settings_from_mapping({"notes": {"api_key_env": "sk-live-123.abc"}}, "t.toml")
    assert "sk-live-123" not in str(error.value)
