"""/healthz and /metrics over HTTP on 127.0.0.1: states, counts and timings, nothing else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.session import State

ALLOWED_LABELS = {"state": {s.value for s in State}, "kind": {"final", "early", "partial"},
                  "outcome": {"used", "wasted"}, "le": None}


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_report_states_queue_and_latency_without_content() -> None:
    with metrics.MetricsServer(port=0) as server:
        base = f"http://127.0.0.1:{server.port}"
        before = _samples(_get(f"{base}/metrics")[2])
        for previous, state in [("scheduled", "joining"), ("joining", "announcing"), ("announcing", "listening")]:
            metrics.session_state_changed(previous, state)
        metrics.session_state_changed("scheduled", "joining")
        metrics.session_state_changed("joining", "failed")
        metrics.queue_depth(3)
        metrics.queue_overflow("partial")
        metrics.transcribed("final", 0.8)
        metrics.speech_to_text(1.2)
        status, content_type, text = _get(f"{base}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    after = _samples(text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("sessionbot_sessions", state="listening") == 1
    assert delta("sessionbot_sessions", state="joining") == 0  # one left for announcing, one failed
    assert delta("sessionbot_sessions", state="announcing") == 0
    assert delta("sessionbot_sessions_finished_total", state="failed") == 1
    assert after[("sessionbot_transcription_queue_depth", ())] == 3
    assert delta("sessionbot_transcription_queue_overflow_total", kind="partial") == 1
    assert delta("sessionbot_transcription_seconds_count", kind="final") == 1
    assert delta("sessionbot_transcription_seconds_bucket", kind="final", le="1.0") == 1
    assert delta("sessionbot_transcription_seconds_bucket", kind="final", le="0.75") == 0
    assert delta("sessionbot_speech_to_text_seconds_count") == 1
    for (_, labels), _value in after.items():
        for key, value in labels:
            assert key in ALLOWED_LABELS, key
            assert ALLOWED_LABELS[key] is None or value in ALLOWED_LABELS[key], (key, value)


@pytest.mark.parametrize(("report", "status"), [({"ok": True, "sessions": 2}, 200), ({"ok": False}, 503)])
def test_healthz_answers_from_the_health_check(report: dict, status: int) -> None:
    with metrics.MetricsServer(port=0, health=lambda: report) as server:
        got, content_type, body = _get(f"http://127.0.0.1:{server.port}/healthz")
        missing, _, _ = _get(f"http://127.0.0.1:{server.port}/nothing")
    assert (got, content_type, json.loads(body)) == (status, "application/json", report)
    assert missing == 404


def test_a_failing_health_check_is_unhealthy_and_names_only_the_error_type() -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("details that could be private")

    with metrics.MetricsServer(port=0, health=broken) as server:
        status, _, body = _get(f"http://127.0.0.1:{server.port}/healthz")
    assert status == 503 and json.loads(body) == {"ok": False, "error": "RuntimeError"}
