"""Prometheus metrics for a sessionbot process, and the /healthz + /metrics HTTP endpoint.

Only states, counts and timings: never a name, a room, a session id or any text,
so nothing a metric carries can identify a client or quote a session. Labels
are closed sets (session states, utterance kinds, outcomes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
TERMINAL_STATES = frozenset({"done", "failed"})
_LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 15.0, 30.0)

SESSIONS = Gauge("sessionbot_sessions", "Sessions currently in each state (joining … noting).", ["state"],
                 registry=REGISTRY)
SESSIONS_FINISHED = Counter("sessionbot_sessions_finished", "Sessions that reached a final state.", ["state"],
                            registry=REGISTRY)
QUEUE_DEPTH = Gauge("sessionbot_transcription_queue_depth", "Utterances waiting for the speech model.",
                    registry=REGISTRY)
QUEUE_OVERFLOW = Counter("sessionbot_transcription_queue_overflow", "Utterances refused by a full queue.", ["kind"],
                         registry=REGISTRY)
SPEECH_TO_TEXT = Histogram("sessionbot_speech_to_text_seconds", "End of an utterance's speech to its final text.",
                           buckets=_LATENCY_BUCKETS, registry=REGISTRY)
TRANSCRIPTION = Histogram("sessionbot_transcription_seconds", "Submission to the model to its result (queue + decode).",
                          ["kind"], buckets=_LATENCY_BUCKETS, registry=REGISTRY)
LOAD_LEVEL = Gauge("sessionbot_transcription_load_level",
                   "How far the speech model has degraded under load: 0 normal, 1 partials shed, 2 finals greedy, "
                   "3 finals queueing.", registry=REGISTRY)
PARTIALS_SHED = Counter("sessionbot_transcription_partials_shed", "Partials skipped because every decoder was busy.",
                        registry=REGISTRY)
FINALS_GREEDY = Counter("sessionbot_transcription_finals_greedy",
                        "Finals decoded the cheap way (greedy, without context) because others were waiting or decoding.", registry=REGISTRY)
EARLY_FINALS = Counter("sessionbot_transcription_early_finals",
                       "Utterances decoded ahead of the hang-over: used as the final, or wasted (speech went on).",
                       ["outcome"], registry=REGISTRY)


def session_state_changed(previous: str, state: str) -> None:
    """Move one session from `previous` to `state` (a session waiting to start is not counted)."""
    if previous != "scheduled" and previous not in TERMINAL_STATES:
        SESSIONS.labels(previous).dec()
    if state in TERMINAL_STATES:
        SESSIONS_FINISHED.labels(state).inc()
    else:
        SESSIONS.labels(state).inc()


def queue_depth(depth: int) -> None:
    QUEUE_DEPTH.set(depth)


def queue_overflow(kind: str) -> None:
    QUEUE_OVERFLOW.labels(kind).inc()


def load_level(level: int) -> None:
    LOAD_LEVEL.set(level)


def partial_shed() -> None:
    PARTIALS_SHED.inc()


def finals_greedy(count: int) -> None:
    FINALS_GREEDY.inc(count)


def transcribed(kind: str, seconds: float) -> None:
    TRANSCRIPTION.labels(kind).observe(seconds)


def early_final(outcome: str) -> None:
    EARLY_FINALS.labels(outcome).inc()


def speech_to_text(seconds: float) -> None:
    SPEECH_TO_TEXT.observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)


Health = Callable[[], dict[str, object]]


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, render())
            elif path == "/healthz":
                try:
                    report = health()
                    ok = bool(report.get("ok", True))
                except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy answer, not a crash
                    report, ok = {"ok": False, "error": type(exc).__name__}, False
                self._reply(200 if ok else 503, "application/json", json.dumps(report).encode())
            else:
                self._reply(404, "text/plain", b"Not found. Try /healthz or /metrics.\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep scrapes out of stderr
            pass

    return Handler


class MetricsServer:
    """/healthz (JSON from `health`, 503 when it says ok=false) and /metrics on a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9464, health: Health | None = None) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(health or (lambda: {"ok": True})))
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
