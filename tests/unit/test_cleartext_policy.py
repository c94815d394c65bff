"""Nothing leaves this machine unencrypted unless a setting names the risk.

Plain http:// (model server, webhook) and plain-websocket janus:// links are allowed to
loopback, refused elsewhere with the key and the fix, allowed with the explicit flag;
https:// and janus+wss:// are always allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.call.base import CallJoinError
from bot.call.factory import connector_for
from bot.call.janus import JanusConnector
from bot.cli import main
from bot.config import ConfigError, settings_from_mapping
from bot.net_policy import cleartext_problem, is_loopback_host
from bot.service.delivery import NoteDelivery, check_webhook_url
from bot.service.ical import CalendarError, read_calendar_text
from bot.service.schedule import WebhookSettings

LOOPBACK_HOSTS = ["127.0.0.1", "[::1]", "localhost"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.8.9.10", "::1",
                                  "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "128.0.0.1", "0.0.0.0", "::", "::2", "192.168.1.1",
                                  "127.0.0.1.nip.io", "localhost.evil.example", "app.localhost", "example.org", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_a_url_that_only_looks_local_is_judged_by_its_real_host() -> None:
    assert cleartext_problem("http://127.0.0.1@10.0.0.5/v1", key="k", flag="f", carries="x", fix="y")
    assert cleartext_problem("http://10.0.0.5/127.0.0.1/", key="k", flag="f", carries="x", fix="y")
    assert cleartext_problem("HTTP://LOCALHOST:8000/", key="k", flag="f", carries="x", fix="y") is None


# -- notes.endpoint (the model server gets the whole transcript) --------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_model_server_over_http_on_loopback_is_allowed(host: str) -> None:
    settings = settings_from_mapping({"notes": {"endpoint": f"http://{host}:8000/v1"}})
    assert settings.notes.endpoint == f"http://{host}:8000/v1"


def test_model_server_over_http_elsewhere_is_refused_with_the_key_and_the_fix() -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_mapping({"notes": {"generator": "openai_compatible", "model": "m",
                                         "endpoint": "http://10.0.0.5:8000/v1"}})
    message = str(error.value)
    assert message.startswith("notes.endpoint: http:// to 10.0.0.5 would send the whole transcript unencrypted.")
    assert "Fix: use https://, or set notes.allow_insecure_endpoint = true if this network is trusted." in message


def test_model_server_over_http_elsewhere_is_allowed_when_the_flag_names_the_risk() -> None:
    settings = settings_from_mapping({"notes": {"endpoint": "http://10.0.0.5:8000/v1", "allow_insecure_endpoint": True}})
    assert settings.notes.endpoint == "http://10.0.0.5:8000/v1"
    assert settings_from_mapping({}).notes.allow_insecure_endpoint is False


def test_model_server_over_https_is_always_allowed() -> None:
    assert settings_from_mapping({"notes": {"endpoint": "https://models.example.org/v1"}}).notes.endpoint


# -- webhook.url (every note is POSTed there) ---------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_webhook_over_http_on_loopback_is_allowed(host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONBOT_WEBHOOK_SECRET", "k" * 32)
    delivery = NoteDelivery(WebhookSettings(url=f"http://{host}:9000/notes"), tmp_path / "outbox")
    assert delivery.webhook is not None


def test_webhook_over_http_elsewhere_is_refused_before_anything_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONBOT_WEBHOOK_SECRET", "k" * 32)
    with pytest.raises(ConfigError) as error:
        NoteDelivery(WebhookSettings(url="http://ehr.example.org/notes"), tmp_path / "outbox")
    message = str(error.value)
    assert message.startswith("webhook.url: http:// to ehr.example.org would send every note unencrypted.")
    assert "Fix: use https://, or set webhook.allow_insecure_url = true" in message
    assert not (tmp_path / "outbox").exists()


def test_webhook_flag_and_https() -> None:
    check_webhook_url("http://ehr.example.org/notes", allow_insecure=True)
    check_webhook_url("https://ehr.example.org/notes", allow_insecure=False)
    with pytest.raises(ConfigError, match="webhook.allow_insecure_url"):
        check_webhook_url("http://10.0.0.5/notes", allow_insecure=False)


# -- janus:// links (the PIN and the API token travel in the websocket) -------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_plain_janus_on_loopback_is_allowed(host: str, make_settings: Any) -> None:
    assert isinstance(connector_for(f"janus://{host}:8188/1234", make_settings()), JanusConnector)


@pytest.mark.parametrize("link", ["janus://10.0.0.5:8188/1234", "janus+ws://janus.example.org/1234"])
def test_plain_janus_elsewhere_is_refused_with_the_key_and_the_fix(link: str, make_settings: Any) -> None:
    with pytest.raises(CallJoinError) as error:
        connector_for(link, make_settings())
    message = str(error.value)
    assert link in message and "the room PIN and the Janus API token unencrypted" in message
    assert "Fix: use janus+wss://HOST:PORT/ROOM (TLS), or set janus.allow_insecure_websocket = true" in message


def test_plain_janus_elsewhere_is_allowed_with_the_flag(make_settings: Any) -> None:
    settings = make_settings(janus={"allow_insecure_websocket": True})
    assert isinstance(connector_for("janus://10.0.0.5:8188/1234", settings), JanusConnector)


def test_janus_over_tls_is_always_allowed(make_settings: Any) -> None:
    assert isinstance(connector_for("janus+wss://10.0.0.5:8989/1234", make_settings()), JanusConnector)


def test_join_on_the_command_line_gives_the_same_explanation(tmp_path: Path) -> None:
    config = tmp_path / "sessionbot.toml"
    config.write_text(f'[paths]\noutput_dir = "{tmp_path / "notes"}"\n[journal]\nenabled = false\n')
    result = CliRunner().invoke(main, ["join", "janus://10.0.0.5:8188/1234", "--config", str(config)])
    assert result.exit_code == 2
    assert "janus:// to 10.0.0.5 would send the room PIN and the Janus API token unencrypted" in result.output
    assert "janus.allow_insecure_websocket = true" in result.output
    assert not (tmp_path / "notes").exists()


# -- calendar feeds (the same notion of loopback; no flag: a feed is never worth the risk) --------------------


def test_calendar_feed_uses_the_same_loopback_rule() -> None:
    for source in ("http://calendar.example.org/c.ics", "http://127.0.0.1.nip.io/c.ics"):
        with pytest.raises(CalendarError, match=r"plain http:// calendar URL\. Fix: use its https:// address"):
            read_calendar_text(source)
    with pytest.raises(CalendarError, match="cannot fetch"):  # allowed, so it is fetched (nothing listens there)
        read_calendar_text("http://127.0.0.2:9/c.ics")


def test_webhook_allow_insecure_url_is_a_schedule_setting_that_admits_http_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONBOT_WEBHOOK_SECRET", "k" * 32)
    settings = WebhookSettings.model_validate({"url": "http://ehr.example.org/notes", "allow_insecure_url": True})
    assert NoteDelivery(settings, tmp_path / "outbox").webhook is settings
