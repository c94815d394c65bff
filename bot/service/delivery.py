"""Note delivery: the clinician's directory always, and optionally a signed webhook.

Every note the service writes lands in `<notes_root>/<clinician>/`. With a
webhook configured, an outbox item (owner-only JSON naming the note file) is
written before the first attempt and removed only after a 2xx answer, so a
webhook that is down, or a crash, never loses a note: the POST is retried with
bounded, doubling backoff until it succeeds, across restarts. Each item has a
fixed delivery id, sent as `X-Sessionbot-Delivery`, so a receiver can drop the
duplicate that a crash between its 2xx and our removal of the item would cause.
The body is the note's JSON, signed with HMAC-SHA256 (`X-Sessionbot-Signature:
sha256=<hex>`) using the key in SESSIONBOT_WEBHOOK_SECRET or webhook.secret_file.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.config import ConfigError
from bot.files import ensure_private_dir, write_private
from bot.log import get_logger
from bot.net_policy import cleartext_problem
from bot.secrets import secret_from_env_or_file
from bot.service.schedule import WebhookSettings

log = get_logger(__name__)

SECRET_ENV = "SESSIONBOT_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Sessionbot-Signature"
DELIVERY_HEADER = "X-Sessionbot-Delivery"


def load_webhook_secret(settings: WebhookSettings) -> bytes:
    data = secret_from_env_or_file(SECRET_ENV, settings.secret_file, "webhook.secret_file")
    if data is None:
        raise ConfigError(
            f"webhook: no signing key. Fix: set {SECRET_ENV} or webhook.secret_file "
            "(e.g. (umask 077; openssl rand -hex 32 > /etc/sessionbot/webhook.key))."
        )
    data = data.strip()
    if len(data) < 16:
        raise ConfigError("webhook: the signing key is shorter than 16 bytes. Fix: use a random key of 32 bytes.")
    return data


def check_webhook_url(url: str, allow_insecure: bool) -> None:
    """Refuse a plain http:// webhook off this machine: every note would cross the network readable."""
    problem = None if allow_insecure else cleartext_problem(
        url, key="webhook.url", flag="webhook.allow_insecure_url", carries="every note", fix="use https://")
    if problem:
        raise ConfigError(problem)


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass
class OutboxItem:
    path: Path
    delivery_id: str
    note_json: Path
    clinician: str
    attempts: int = 0
    next_attempt: float = 0.0


class NoteDelivery:
    def __init__(self, webhook: WebhookSettings | None, outbox_dir: Path) -> None:
        self.webhook = webhook
        self.outbox_dir = outbox_dir
        if webhook is not None:
            check_webhook_url(webhook.url, webhook.allow_insecure_url)
        self._secret = load_webhook_secret(webhook) if webhook is not None else b""
        self._items: dict[str, OutboxItem] = {}
        self._wake = asyncio.Event()
        self.delivered = 0
        if webhook is not None:
            self._load_outbox()

    def _load_outbox(self) -> None:
        if not self.outbox_dir.is_dir():
            return
        for path in sorted(self.outbox_dir.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                item = OutboxItem(path, str(data["delivery_id"]), Path(data["note_json"]), str(data["clinician"]))
            except (OSError, ValueError, KeyError):
                log.error("outbox_item_malformed", file=path.name)
                continue
            self._items[item.delivery_id] = item
        if self._items:
            log.info("outbox_loaded", pending=len(self._items))

    @property
    def pending(self) -> list[OutboxItem]:
        return list(self._items.values())

    def pending_notes(self) -> set[Path]:
        return {item.note_json for item in self._items.values()}

    def enqueue(self, note_json: Path, clinician: str) -> None:
        """Record the note as owed to the webhook, durably, before trying to send it."""
        if self.webhook is None:
            return
        delivery_id = uuid.uuid4().hex
        path = ensure_private_dir(self.outbox_dir) / f"{delivery_id}.json"
        write_private(path, json.dumps({"delivery_id": delivery_id, "note_json": str(note_json),
                                        "clinician": clinician}))
        self._items[delivery_id] = OutboxItem(path, delivery_id, note_json, clinician)
        log.info("note_queued", delivery_id=delivery_id)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver what is due until `stop` is set; then one last pass."""
        if self.webhook is None:
            return
        async with httpx.AsyncClient(timeout=self.webhook.timeout_s) as client:
            while not stop.is_set():
                await self.deliver_due(client)
                self._wake.clear()
                due = [i.next_attempt for i in self._items.values()]
                wait = max(0.05, min(due) - time.monotonic()) if due else None
                waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
            await self.deliver_due(client)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        sent = 0
        for item in list(self._items.values()):
            if item.next_attempt <= time.monotonic() and await self._post(client, item):
                sent += 1
        return sent

    async def _post(self, client: httpx.AsyncClient, item: OutboxItem) -> bool:
        assert self.webhook is not None
        try:
            body = item.note_json.read_bytes()
        except OSError as exc:
            # Kept in the outbox: the note may be on a volume that comes back.
            log.error("note_unreadable_for_delivery", delivery_id=item.delivery_id, error=type(exc).__name__)
            self._back_off(item)
            return False
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: item.delivery_id,
                   SIGNATURE_HEADER: sign(self._secret, body)}
        item.attempts += 1
        try:
            response = await client.post(self.webhook.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            log.warning("webhook_failed", delivery_id=item.delivery_id, attempt=item.attempts, error=type(exc).__name__)
            self._back_off(item)
            return False
        if not 200 <= status < 300:
            log.warning("webhook_failed", delivery_id=item.delivery_id, attempt=item.attempts, status=status)
            self._back_off(item)
            return False
        item.path.unlink(missing_ok=True)
        del self._items[item.delivery_id]
        self.delivered += 1
        log.info("note_delivered", delivery_id=item.delivery_id, attempts=item.attempts, status=status)
        return True

    def _back_off(self, item: OutboxItem) -> None:
        assert self.webhook is not None
        wait = min(self.webhook.retry_initial_s * 2 ** (item.attempts - 1), self.webhook.retry_max_s)
        item.next_attempt = time.monotonic() + wait
