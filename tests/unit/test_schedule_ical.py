"""iCalendar sessions: recurring events expanded, cancelled ones not joined, settings from the description."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.service.schedule import load_schedule

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:weekly-sam
DTSTART:20261120T150000Z
DTEND:20261120T155000Z
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Sam (private)
LOCATION:http://127.0.0.1:1/room/sam?token=t
DESCRIPTION:language: es\\nconsent: written\\nconsent_ref: form-17\\npurposes: notes, risk_flags\\ntemplate: soap
END:VEVENT
BEGIN:VEVENT
UID:weekly-sam
RECURRENCE-ID:20261204T150000Z
DTSTART:20261204T150000Z
DTEND:20261204T155000Z
STATUS:CANCELLED
LOCATION:http://127.0.0.1:1/room/sam?token=t
END:VEVENT
BEGIN:VEVENT
UID:cancelled-one
DTSTART:20261124T090000Z
DTEND:20261124T094500Z
STATUS:CANCELLED
LOCATION:janus://127.0.0.1:8188/1234
END:VEVENT
BEGIN:VEVENT
UID:lunch
DTSTART:20261124T120000Z
DTEND:20261124T130000Z
LOCATION:Cafeteria
END:VEVENT
BEGIN:VEVENT
UID:bad-settings
DTSTART:20261125T090000Z
DTEND:20261125T094500Z
LOCATION:http://127.0.0.1:1/room/x?token=t
DESCRIPTION:clinician: lee\\nmood: sunny
END:VEVENT
BEGIN:VEVENT
UID:other-clinician
DTSTART:20261125T100000Z
DTEND:20261125T104500Z
LOCATION:http://127.0.0.1:1/room/y?token=t
DESCRIPTION:Intake.\\nclinician: lee
END:VEVENT
END:VCALENDAR
"""


def schedule_with_calendar(tmp_path: Path, make_settings):
    (tmp_path / "clinic.ics").write_text(CALENDAR.replace("\n", "\r\n"))
    path = tmp_path / "schedule.toml"
    path.write_text(f'[service]\nhorizon_days = 30\nnotes_root = "{tmp_path / "notes"}"\n'
                    '[[calendar]]\nsource = "clinic.ics"\nclinician = "rivera"\n')
    return load_schedule(path, make_settings(), now=NOW)


def test_recurring_event_occurrences_are_sessions_with_the_description_settings(tmp_path, make_settings) -> None:
    schedule = schedule_with_calendar(tmp_path, make_settings)
    weekly = sorted(k for k in schedule.sessions if k.startswith("weekly-sam@"))
    # 20 Nov is more than a day before NOW, so it is not listed; the 4th (last) occurrence is 11 Dec.
    assert weekly == ["weekly-sam@20261127T150000Z", "weekly-sam@20261204T150000Z", "weekly-sam@20261211T150000Z"]
    session = schedule.sessions["weekly-sam@20261127T150000Z"]
    assert session.link == "http://127.0.0.1:1/room/sam?token=t" and session.clinician == "rivera"
    assert (session.end - session.start).total_seconds() == 50 * 60
    settings = session.settings
    assert settings.session.language == "es" and settings.session.note_template == "soap"
    assert settings.consent.mode == "written" and settings.consent.written_consent_ref == "form-17"
    assert settings.consent.purposes == ["notes", "risk_flags"]


def test_cancelled_events_and_occurrences_are_marked_and_events_without_a_link_ignored(tmp_path, make_settings) -> None:
    schedule = schedule_with_calendar(tmp_path, make_settings)
    assert schedule.sessions["weekly-sam@20261204T150000Z"].cancelled
    assert not schedule.sessions["weekly-sam@20261211T150000Z"].cancelled
    assert schedule.sessions["cancelled-one@20261124T090000Z"].cancelled
    assert not any(k.startswith("lunch") for k in schedule.sessions)


def test_a_bad_description_key_skips_that_event_only_and_names_the_key(tmp_path, make_settings) -> None:
    schedule = schedule_with_calendar(tmp_path, make_settings)
    assert "bad-settings@20261125T090000Z" not in schedule.sessions
    [problem] = schedule.problems
    assert "bad-settings@20261125T090000Z" in problem and "'mood'" in problem and "Fix:" in problem
    other = schedule.sessions["other-clinician@20261125T100000Z"]
    assert other.clinician == "lee" and other.settings.paths.output_dir == tmp_path / "notes" / "lee"


def test_an_unreadable_calendar_is_a_reported_problem_not_a_crash(tmp_path, make_settings) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text('[[calendar]]\nsource = "missing.ics"\nclinician = "rivera"\n')
    schedule = load_schedule(path, make_settings(), now=NOW)
    assert schedule.sessions == {} and "cannot read" in schedule.problems[0]


def test_occurrences_beyond_the_horizon_are_not_listed(tmp_path, make_settings) -> None:
    (tmp_path / "clinic.ics").write_text(CALENDAR.replace("\n", "\r\n"))
    path = tmp_path / "schedule.toml"
    path.write_text('[service]\nhorizon_days = 7\n[[calendar]]\nsource = "clinic.ics"\nclinician = "rivera"\n')
    weekly = sorted(k for k in load_schedule(path, make_settings(), now=NOW).sessions if k.startswith("weekly"))
    assert weekly == ["weekly-sam@20261127T150000Z"]


def test_a_calendar_url_is_fetched_and_plain_http_off_loopback_is_refused(tmp_path, make_settings) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = CALENDAR.replace("\n", "\r\n").encode()

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "schedule.toml"
        path.write_text(f'[[calendar]]\nsource = "http://127.0.0.1:{server.server_address[1]}/c.ics"\n'
                        'clinician = "rivera"\n[[calendar]]\nsource = "http://calendar.example.org/c.ics"\n'
                        'clinician = "lee"\n')
        schedule = load_schedule(path, make_settings(), now=NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert "weekly-sam@20261127T150000Z" in schedule.sessions
    assert any("plain http://" in p and "Fix: use its https://" in p for p in schedule.problems)
