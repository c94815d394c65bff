"""Webhook delivery against a real HTTP server on 127.0.0.1: it fails twice, then succeeds; the note
arrives exactly once, signed, and the outbox survives a restart while the webhook is down."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.files import write_private
from bot.service.delivery import DELIVERY_HEADER, SECRET_ENV, SIGNATURE_HEADER, NoteDelivery
from bot.service.schedule import WebhookSettings

SECRET = "a-test-signing-key-of-some-length"


class FlakyReceiver(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` POSTs, then 200; records every request."""

    failures = 2
    received: list[tuple[int, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 503 if len(self.received) < self.failures else 200
        type(self).received.append((status, dict(self.headers), body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[FlakyReceiver]]]:
    handler = type("Receiver", (FlakyReceiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notes", handler
    server.shutdown()
    server.server_close()


def a_note(tmp_path: Path) -> Path:
    return write_private(tmp_path / "notes" / "rivera" / "20261123T100000-abc.json",
                         json.dumps({"draft": True, "facts": {"session_id": "abc"}}))


async def deliver_until_empty(delivery: NoteDelivery, timeout: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.ensure_future(delivery.run(stop))
    deadline = asyncio.get_running_loop().time() + timeout
    while delivery.pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task


async def test_webhook_failing_twice_receives_the_note_exactly_once(tmp_path, receiver, monkeypatch) -> None:
    url, handler = receiver
    monkeypatch.setenv(SECRET_ENV, SECRET)
    note = a_note(tmp_path)
    delivery = NoteDelivery(WebhookSettings(url=url, retry_initial_s=0.1, retry_max_s=0.5), tmp_path / "outbox")
    delivery.enqueue(note, "rivera")
    [item] = delivery.pending
    assert item.path.is_file() and oct(item.path.stat().st_mode & 0o777) == "0o600"
    await deliver_until_empty(delivery)
    statuses = [status for status, _, _ in handler.received]
    assert statuses == [503, 503, 200]  # two failures, then one delivery, and nothing after it
    ids = {headers[DELIVERY_HEADER] for _, headers, _ in handler.received}
    assert ids == {item.delivery_id}  # the retries are the same delivery, so a receiver can deduplicate
    _, headers, body = handler.received[-1]
    assert body == note.read_bytes()
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert delivery.pending == [] and list((tmp_path / "outbox").iterdir()) == []


async def test_a_note_owed_to_a_down_webhook_survives_a_restart(tmp_path, receiver, monkeypatch) -> None:
    url, handler = receiver
    monkeypatch.setenv(SECRET_ENV, SECRET)
    note = a_note(tmp_path)
    down = WebhookSettings(url="http://127.0.0.1:9/unreachable", retry_initial_s=0.05, retry_max_s=0.1)
    first = NoteDelivery(down, tmp_path / "outbox")
    first.enqueue(note, "rivera")
    stop = asyncio.Event()
    task = asyncio.ensure_future(first.run(stop))
    await asyncio.sleep(0.5)  # several refused attempts
    stop.set()
    await task
    assert len(first.pending) == 1 and first.pending[0].attempts >= 2
    handler.failures = 0
    restarted = NoteDelivery(WebhookSettings(url=url, retry_initial_s=0.05), tmp_path / "outbox")
    assert [i.note_json for i in restarted.pending] == [note]
    await deliver_until_empty(restarted)
    assert [status for status, _, _ in handler.received] == [200] and restarted.pending == []


def test_a_webhook_without_a_signing_key_is_refused_with_the_fix(tmp_path, monkeypatch) -> None:
    from bot.config import ConfigError

    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match="Fix: set SESSIONBOT_WEBHOOK_SECRET"):
        NoteDelivery(WebhookSettings(url="http://127.0.0.1:9/x"), tmp_path / "outbox")
