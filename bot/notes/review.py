"""`sessionbot review`: a loopback-only HTTP server for one review of one drafted note.

Why a server and not a download link: the reviewed version must be owner-only (0600) and sit
beside the draft; a browser download lands wherever the browser puts it, with the browser's
permissions. So the page is served from 127.0.0.1 on a random port, under a one-time token
(secrets.token_urlsafe, compared in constant time) that is in the URL printed on the terminal,
and only that page may post the clinician's decisions back. Refused: any peer that is not
loopback, any Host header other than this server's own address (a DNS-rebinding page cannot
reach it), any request without the token, a POST from another origin. A malformed POST is
answered 400 with what is wrong and changes nothing: no file is written, the server keeps
waiting, and the page keeps the clinician's changes to retry. The first good save writes
<stem>.reviewed.md and .json (bot/notes/reviewed.py), answers the page, then ends the server. Nothing about the
note's content is logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bot.log import get_logger
from bot.notes.html import ReviewPage, to_html
from bot.notes.reviewed import Draft, ReviewError, parse_decisions, previous_decisions, write_reviewed

log = get_logger(__name__)

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    message: str


@dataclass
class _State:
    saved: list[Path] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def refusal(method: str, path: str, host: str | None, peer: str, origin: str | None, port: int,
            token: str) -> Refusal | None:
    """Why a request is refused before it is read any further, or None when it may proceed."""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return Refusal(HTTPStatus.FORBIDDEN, "refused: the review server answers this computer only")
    if host not in (f"{LOOPBACK}:{port}", f"localhost:{port}"):
        return Refusal(HTTPStatus.FORBIDDEN, f"refused: Host must be {LOOPBACK}:{port}")
    parts = path.split("?", 1)[0].split("/")
    given = parts[1] if len(parts) > 1 else ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii")):
        return Refusal(HTTPStatus.FORBIDDEN, "refused: this address needs the review token "
                                             "(open the URL that `sessionbot review` printed)")
    rest = "/".join(parts[2:])
    if method == "GET" and rest == "":
        return None
    if method == "POST" and rest == "save":
        if origin is not None and origin not in (f"http://{LOOPBACK}:{port}", f"http://localhost:{port}"):
            return Refusal(HTTPStatus.FORBIDDEN, "refused: a save must come from the review page itself")
        return None
    if method not in ("GET", "POST"):
        return Refusal(HTTPStatus.METHOD_NOT_ALLOWED, "only GET (the page) and POST (save) are served")
    return Refusal(HTTPStatus.NOT_FOUND, "not found")


class ReviewServer:
    """Serve one draft's review page until it is saved once (or the caller stops waiting)."""

    def __init__(self, draft: Draft, host: str = LOOPBACK, port: int = 0, token: str | None = None) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the review server listens on loopback only (127.0.0.1), not {host!r}")
        self.draft = draft
        self.token = token or secrets.token_urlsafe(32)
        self.state = _State()
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{self.token}/"

    def page(self) -> bytes:
        review = ReviewPage(save_url=f"/{self.token}/save", previous=previous_decisions(self.draft))
        return to_html(self.draft.note, include_transcript=True, review=review).encode("utf-8")

    def save(self, raw: bytes, content_type: str | None) -> tuple[HTTPStatus, dict[str, Any]]:
        """Validate and write one reviewed version; a bad request writes nothing."""
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            return HTTPStatus.BAD_REQUEST, {"error": "a save is a JSON body (Content-Type: application/json)"}
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return HTTPStatus.BAD_REQUEST, {"error": f"the body is not valid JSON ({exc.__class__.__name__})"}
        with self.state.lock:
            if self.state.saved:
                return HTTPStatus.CONFLICT, {"error": "this review was already saved; run sessionbot review again"}
            try:
                decisions = parse_decisions(self.draft.note, body)
            except ReviewError as exc:
                return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
            paths = write_reviewed(self.draft, decisions)
            self.state.saved = list(paths)
        log.info("note_reviewed", files=[p.name for p in paths],
                 removed=sum(d.action == "remove" for d in decisions.values()),
                 edited=sum(d.action == "edit" for d in decisions.values()))
        return HTTPStatus.OK, {"saved": [p.name for p in paths], "directory": str(paths[0].parent)}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="review-server", daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None) -> list[Path]:
        """The files written, or [] when nothing was saved within `timeout_s`; the server is closed either way."""
        try:
            self.state.done.wait(timeout_s)
        finally:
            self.close()
        return list(self.state.saved)

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30  # an idle (pre)connection must not hold a worker forever
            server_version = "sessionbot-review"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass  # the URL holds the token: never logged

            def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("X-Frame-Options", "DENY")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
                self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

            def _refused(self) -> bool:
                why = refusal(self.command, self.path, self.headers.get("Host"), self.client_address[0],
                              self.headers.get("Origin"), server.port, server.token)
                if why is not None:
                    self._json(why.status, {"error": why.message})
                return why is not None

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if not self._refused():
                    self._send(HTTPStatus.OK, server.page(), "text/html; charset=utf-8")

            def do_POST(self) -> None:  # noqa: N802
                if self._refused():
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "a save needs a Content-Length"})
                    return
                if length < 0 or length > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"a save is at most {MAX_BODY_BYTES} bytes"})
                    return
                status, payload = server.save(self.rfile.read(length), self.headers.get("Content-Type"))
                self._json(status, payload)
                if status == HTTPStatus.OK:
                    server.state.done.set()  # only once the page has its answer: then the server may end

            def _other(self) -> None:
                if not self._refused():
                    self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET and POST"})

            do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other  # noqa: N815

        return Handler
