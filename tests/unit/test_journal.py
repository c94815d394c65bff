"""The encrypted, crash-safe transcript journal (bot/transcribe/journal.py)."""

from __future__ import annotations

import base64
import errno
import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.transcribe import journal as journal_module
from bot.transcribe.buffer import TranscriptBuffer
from bot.transcribe.journal import (
    KEY_ENV,
    JournalClosedError,
    JournalError,
    JournalInUseError,
    JournalWriter,
    TranscriptJournal,
    claim_journal,
    find_unfinished,
    generate_key,
    load_journal_key,
    read_journal,
)
from bot.transcribe.segment import Participant, Segment

REPO = Path(__file__).resolve().parents[2]
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CLIENT = Participant("p2", "Samuel Ortega", "client")
CLINICIAN = Participant("p1", "Dr. Ana Ruiz", "clinician")
LINES = [
    "I have been sleeping badly since my father's funeral.",
    "No he dormido bien desde el funeral de mi padre. Ñandú, café.",
    "What helps, when the nights are long?",
]


def segment(n: int, text: str, session_id: str = "sess1", who: Participant = CLIENT) -> Segment:
    return Segment(
        id=f"S{n}", session_id=session_id, participant_id=who.id, display_name=who.display_name, role=who.role,
        start=float(n * 5), end=float(n * 5 + 4), text=text, language="en", confidence=0.9,
    )


def write_journal(directory: Path, session_id: str = "sess1", *, end: bool = True, key: bytes = KEY) -> Path:
    with TranscriptJournal(directory, session_id, key, {"language": "en", "consent_mode": "implied"}) as journal:
        journal.append_participant(CLINICIAN)
        journal.append_participant(CLIENT)
        for n, text in enumerate(LINES, start=1):
            journal.append_segment(segment(n, text, session_id, CLIENT if n % 2 else CLINICIAN))
        journal.append_gap(20.0, 31.5, "paused by clinician")
        if end:
            journal.end("call ended")
        return journal.path


def test_round_trip(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "journal")
    assert path == tmp_path / "journal" / "sess1.journal"
    contents = read_journal(path, KEY)
    assert [s.text for s in contents.segments] == LINES
    assert contents.segments[0] == segment(1, LINES[0])
    assert contents.participants == [CLINICIAN, CLIENT]
    assert [(g.from_s, g.to_s, g.reason) for g in contents.gaps] == [(20.0, 31.5, "paused by clinician")]
    assert contents.ended and contents.end_reason == "call ended" and not contents.corrupt_tail
    assert contents.records == 2 + len(LINES) + 1 + 1
    header = contents.header
    assert header["session_id"] == "sess1" and header["version"] == 1 and header["created_utc"].endswith("+00:00")
    assert header["metadata"] == {"language": "en", "consent_mode": "implied"}


def test_unreadable_without_the_key(tmp_path: Path) -> None:
    path = write_journal(tmp_path)
    header, *records = _lines(path)
    secrets = [*LINES, *(w.strip(".,?'") for line in LINES for w in line.split()), "Samuel Ortega", "Dr. Ana Ruiz",
               "clinician", "client", "paused by clinician", "segment", "participant", "gap"]
    # The header is the only plaintext, and it carries no content.
    assert json.loads(header)["session_id"] == "sess1"
    assert not [w for w in secrets if len(w) >= 3 and w.lower().encode() in header.lower()]
    # Records are base64 only, so no text with a space, accent or punctuation can hide there; and no
    # long word appears either (checked case-sensitively, as random base64 does spell short words).
    assert all(re.fullmatch(rb"[A-Za-z0-9+/]+=*", line) for line in records)
    assert not [w for w in secrets if len(w) >= 7 and w.encode() in b"".join(records)]
    with pytest.raises(JournalError, match="record 1 .*failed authentication: the key is not the one"):
        read_journal(path, OTHER_KEY)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_reordered_records_are_detected(tmp_path: Path) -> None:
    path = write_journal(tmp_path)
    lines = _lines(path)
    lines[3], lines[4] = lines[4], lines[3]  # records 3 and 4 (segments 1 and 2)
    _rewrite(path, lines)
    with pytest.raises(JournalError, match="record 3 .*reordered"):
        read_journal(path, KEY)


def test_removed_or_foreign_records_and_edited_header_are_detected(tmp_path: Path) -> None:
    a = write_journal(tmp_path / "a", "sessA")
    b = write_journal(tmp_path / "b", "sessB")
    original = _lines(a)

    _rewrite(a, original[:2] + original[3:])  # one record gone from the middle
    with pytest.raises(JournalError, match="record 2 "):
        read_journal(a, KEY)

    foreign = original.copy()
    foreign[3] = _lines(b)[3]  # same position, other session
    _rewrite(a, foreign)
    with pytest.raises(JournalError, match="record 3 "):
        read_journal(a, KEY)

    edited = original.copy()
    edited[0] = edited[0].replace(b'"language":"en"', b'"language":"es"')
    assert edited[0] != original[0]
    _rewrite(a, edited)
    with pytest.raises(JournalError, match="record 1 "):
        read_journal(a, KEY)


def test_torn_final_line_is_tolerated(tmp_path: Path) -> None:
    path = write_journal(tmp_path, end=False)
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # the last record (the gap) lost its end and its newline
    contents = read_journal(path, KEY)
    assert contents.corrupt_tail and not contents.ended
    assert [s.text for s in contents.segments] == LINES and contents.gaps == []


def test_a_complete_but_bad_final_line_is_not_a_torn_tail(tmp_path: Path) -> None:
    path = write_journal(tmp_path, end=False)
    lines = _lines(path)
    raw = bytearray(base64.b64decode(lines[-1]))
    raw[-1] ^= 1
    lines[-1] = base64.b64encode(bytes(raw))
    _rewrite(path, lines)
    with pytest.raises(JournalError, match="failed authentication"):
        read_journal(path, KEY)


def test_a_crash_before_the_header_was_written_reads_as_empty(tmp_path: Path) -> None:
    for data in (b"", b'{"format":"sessionbot-jour'):
        path = tmp_path / "sess9.journal"
        path.write_bytes(data)
        contents = read_journal(path, KEY)
        assert contents.header == {} and contents.segments == [] and contents.corrupt_tail is bool(data)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from bot.log import configure_logging
    from bot.transcribe.journal import TranscriptJournal, load_journal_key
    from bot.transcribe.segment import Segment

    configure_logging("warning")  # logs to stderr; stdout carries only the acknowledgements

    directory, n, self_kill = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    journal = TranscriptJournal(directory, "crash1", load_journal_key(), {"language": "en"})
    i = 0
    while self_kill is False or i < n:
        i += 1
        journal.append_segment(Segment(f"S{i}", "crash1", "p1", "Client", "client", float(i), i + 0.5,
                                       f"line number {i} of the session", "en", 0.9))
        print(i, flush=True)  # only after append_segment returned
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _child(tmp_path: Path, n: int, self_kill: bool) -> subprocess.Popen[str]:
    env = {**os.environ, KEY_ENV: base64.b64encode(KEY).decode(), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(n), "1" if self_kill else "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True,
    )


def test_kill_9_after_n_appends_loses_nothing(tmp_path: Path) -> None:
    n = 25
    child = _child(tmp_path, n, self_kill=True)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert out.split() == [str(i) for i in range(1, n + 1)]
    path = tmp_path / "crash1.journal"
    contents = read_journal(path, KEY)
    assert [s.text for s in contents.segments] == [f"line number {i} of the session" for i in range(1, n + 1)]
    assert not contents.ended and not contents.corrupt_tail
    assert find_unfinished(tmp_path, KEY) == [path]


def test_kill_9_while_appending_keeps_every_acknowledged_segment(tmp_path: Path) -> None:
    child = _child(tmp_path, 0, self_kill=False)
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(40)]
    child.send_signal(signal.SIGKILL)  # mid-stream, from outside
    acknowledged += [int(line) for line in child.stdout.read().split()]
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    contents = read_journal(tmp_path / "crash1.journal", KEY)
    recovered = [int(s.id[1:]) for s in contents.segments]
    assert recovered[: len(acknowledged)] == acknowledged  # at most one more, written but not acknowledged
    assert len(recovered) <= len(acknowledged) + 1


def test_owner_only_permissions(tmp_path: Path) -> None:
    old = os.umask(0)  # permissions must not depend on the umask
    try:
        path = write_journal(tmp_path / "state" / "journal")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_journal_is_never_reopened_or_overwritten(tmp_path: Path) -> None:
    path = write_journal(tmp_path, end=False)
    before = path.read_bytes()
    with pytest.raises(JournalError, match="already exists"):
        TranscriptJournal(tmp_path, "sess1", KEY)
    assert path.read_bytes() == before


def test_unsafe_session_ids_are_refused(tmp_path: Path) -> None:
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            TranscriptJournal(tmp_path, bad, KEY)


def test_delete_leaves_no_file_and_overwrites_the_bytes(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "gone1", KEY)
    for n, text in enumerate(LINES, start=1):
        journal.append_segment(segment(n, text, "gone1"))
    size = journal.path.stat().st_size
    witness = tmp_path / "witness"
    os.link(journal.path, witness)  # a second name for the same inode shows what was left on it
    journal.delete()
    assert not journal.path.exists()
    assert witness.read_bytes() == bytes(size)
    with pytest.raises(JournalClosedError):
        journal.append_segment(segment(9, "after the objection", "gone1"))
    journal.delete()  # idempotent


def test_find_unfinished_lists_only_journals_without_an_end_record(tmp_path: Path) -> None:
    write_journal(tmp_path, "done1", end=True)
    open_one = write_journal(tmp_path, "open1", end=False)
    closed = TranscriptJournal(tmp_path, "empty1", KEY)
    closed.close()
    (tmp_path / "notes.md").write_text("not a journal")
    assert sorted(find_unfinished(tmp_path, KEY)) == sorted([open_one, closed.path])
    assert find_unfinished(tmp_path / "missing", KEY) == []


def test_journal_writer_follows_the_buffer_and_never_breaks_it(tmp_path: Path, monkeypatch) -> None:
    buffer = TranscriptBuffer("live1")
    journal = TranscriptJournal(tmp_path, "live1", KEY)
    writer = JournalWriter(journal)
    seen: list[str] = []
    buffer.subscribe(writer)
    buffer.subscribe(lambda s: seen.append(s.id))  # e.g. the objection check, subscribed after
    buffer.append(CLIENT, 0.0, 2.0, LINES[0], "en", 0.9)
    buffer.append(CLINICIAN, 2.5, 4.0, LINES[2], "en", 0.8)

    def full_disk(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "fsync", full_disk)
    buffer.append(CLIENT, 5.0, 6.0, "third", "en", 0.9)
    monkeypatch.undo()
    buffer.append(CLIENT, 7.0, 8.0, "fourth", "en", 0.9)
    assert seen == ["S1", "S2", "S3", "S4"]
    assert (writer.written, writer.failures, writer.skipped) == (2, 1, 1)  # the failed journal stays closed
    assert [s.text for s in read_journal(journal.path, KEY).segments][:2] == [LINES[0], LINES[2]]

    # After an objection the journal is deleted; segments racing in after it are skipped.
    other = TranscriptJournal(tmp_path, "live2", KEY)
    late = JournalWriter(other)
    other.delete()
    late(segment(1, "said after the objection", "live2"))
    assert (late.written, late.skipped) == (0, 1) and not other.path.exists()


def test_invalid_records_are_refused_before_writing(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "sess1", KEY)
    for kind, data in (("note", {}), ("gap", {"from_s": 5, "to_s": 1, "reason": "x"}), ("end", {})):
        with pytest.raises(JournalError, match="not a valid"):
            journal.append(kind, data)
    with pytest.raises(JournalError, match="belongs to session other"):
        journal.append_segment(segment(1, "x", "other"))
    journal.end("done")
    with pytest.raises(JournalClosedError):
        journal.append_gap(1, 2, "late")
    assert read_journal(journal.path, KEY).records == 1


# -- ownership: the writer's lock, the objection marker ---------------------------------


def _lockable(path: Path) -> bool:
    """Whether a fresh descriptor can take the journal's lock (as another process would)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.mark.parametrize("finish", ["close", "end", "delete", "failed write"])
def test_a_live_journal_is_locked_until_it_is_closed_ended_or_deleted(tmp_path: Path, monkeypatch,
                                                                      finish: str) -> None:
    journal = TranscriptJournal(tmp_path, "live1", KEY)
    journal.append_segment(segment(1, LINES[0], "live1"))
    witness = tmp_path / "witness"
    os.link(journal.path, witness)  # the same inode, still there after a delete
    assert not _lockable(journal.path)
    with pytest.raises(JournalInUseError):
        claim_journal(journal.path)
    if finish == "close":
        journal.close()
    elif finish == "end":
        journal.end("call ended")
    elif finish == "delete":
        journal.delete()
    else:
        def broken_disk(_fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(journal_module.os, "fsync", broken_disk)
        with pytest.raises(JournalError, match="writing record 2 failed"):
            journal.append_segment(segment(2, LINES[1], "live1"))
        monkeypatch.undo()
    assert _lockable(witness)
    claim = claim_journal(journal.path)
    assert (claim is None) is (finish == "delete")
    if claim is not None:
        with claim:
            assert [s.text for s in claim.read(KEY).segments][:1] == [LINES[0]]


def test_a_second_writer_of_a_live_journal_is_told_it_is_in_use(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "live1", KEY)
    with pytest.raises(JournalInUseError, match="being written by a running session"):
        TranscriptJournal(tmp_path, "live1", KEY)
    journal.close()
    with pytest.raises(JournalError, match="already exists") as info:
        TranscriptJournal(tmp_path, "live1", KEY)
    assert not isinstance(info.value, JournalInUseError)


def test_a_claim_locks_out_writers_and_other_claims_and_deletes_under_its_lock(tmp_path: Path) -> None:
    path = write_journal(tmp_path, end=False)
    claim = claim_journal(path)
    assert claim is not None and not _lockable(path)
    with pytest.raises(JournalInUseError):
        claim_journal(path)
    assert claim.read(KEY).segments == read_journal(path, KEY).segments
    witness = tmp_path / "witness"
    os.link(path, witness)
    size = path.stat().st_size
    claim.delete()
    assert not path.exists() and witness.read_bytes() == bytes(size) and _lockable(witness)
    assert claim_journal(path) is None  # gone: nothing to claim


def test_find_unfinished_does_not_read_a_journal_this_process_writes(tmp_path: Path, monkeypatch) -> None:
    journal = TranscriptJournal(tmp_path, "live1", KEY)
    opened: list[str] = []
    real_read = journal_module.read_journal
    monkeypatch.setattr(journal_module, "read_journal", lambda path, key: opened.append(path.name) or real_read(path, key))
    assert find_unfinished(tmp_path, KEY) == [journal.path]
    assert opened == []  # over NFS, opening and closing it would drop this process's own lock
    journal.close()
    assert find_unfinished(tmp_path, KEY) == [journal.path] and opened == ["live1.journal"]


def test_the_header_carries_lists_of_names_but_nothing_else(tmp_path: Path) -> None:
    meta = {"language": "en", "purposes": ("notes", "risk_flags"), "note_template": "soap"}
    with TranscriptJournal(tmp_path, "meta1", KEY, meta) as journal:
        journal.append_segment(segment(1, LINES[0], "meta1"))
    assert read_journal(journal.path, KEY).header["metadata"] == {**meta, "purposes": ["notes", "risk_flags"]}
    for bad in ({"purposes": ["notes", 3]}, {"names": {"p2": "Samuel"}}, {"purposes": [["notes"]]}):
        with pytest.raises(TypeError, match="journal metadata"):
            TranscriptJournal(tmp_path, "meta2", KEY, bad)  # type: ignore[arg-type]
    assert not (tmp_path / "meta2.journal").exists()


def test_an_objection_marker_is_durable_content_free_and_final(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "obj1", KEY)
    writer = JournalWriter(journal)
    writer(segment(1, LINES[0], "obj1"))
    size = journal.path.stat().st_size
    journal.mark_objection()
    assert journal.path.stat().st_size > size and journal.closed
    assert not _lockable(journal.path)  # still held: the delete comes next, under the same lock
    journal.mark_objection()  # once is enough; a second call writes nothing
    writer(segment(2, "said while the objection was handled", "obj1"))
    assert (writer.written, writer.skipped) == (1, 1)
    with pytest.raises(JournalClosedError):
        journal.end("call ended")
    journal.close()
    contents = read_journal(journal.path, KEY)
    assert contents.objected and not contents.ended and contents.records == 2
    assert [s.text for s in contents.segments] == [LINES[0]]
    with pytest.raises(JournalError, match="not a valid 'objection'"):
        TranscriptJournal(tmp_path, "obj2", KEY).append("objection", {"who": "Samuel"})


def test_an_objection_on_a_journal_that_cannot_take_it_does_not_stop_the_delete(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "obj1", KEY)
    journal.append_segment(segment(1, LINES[0], "obj1"))
    journal.close()
    journal.mark_objection()  # logs and returns: the caller's delete() must still run
    assert not read_journal(journal.path, KEY).objected
    journal.delete()
    assert not journal.path.exists()


def test_find_unfinished_lists_an_objected_journal(tmp_path: Path) -> None:
    journal = TranscriptJournal(tmp_path, "obj1", KEY)
    journal.mark_objection()
    journal.close()
    write_journal(tmp_path, "done1", end=True)
    assert find_unfinished(tmp_path, KEY) == [journal.path]


# -- keys ------------------------------------------------------------------------------


def _key_file(tmp_path: Path, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "journal.key"
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_key_from_the_environment(monkeypatch) -> None:
    key = os.urandom(32)
    for encoded in (base64.b64encode(key), base64.urlsafe_b64encode(key), base64.urlsafe_b64encode(key).rstrip(b"=")):
        monkeypatch.setenv(KEY_ENV, encoded.decode())
        assert load_journal_key() == key
    monkeypatch.setenv(KEY_ENV, generate_key())
    assert len(load_journal_key()) == 32


def test_wrong_keys_in_the_environment_are_refused_without_echoing_them(monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV, base64.b64encode(b"s3cret-but-short").decode())
    with pytest.raises(ConfigError, match=f"{KEY_ENV}: bad value .*16 bytes.*32.*sessionbot journal-key") as info:
        load_journal_key()
    assert "czNjcmV0" not in str(info.value)
    monkeypatch.setenv(KEY_ENV, "not base64 at all!")
    with pytest.raises(ConfigError, match="not base64"):
        load_journal_key()
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=f"{KEY_ENV}: not set"):
        load_journal_key()


def test_key_from_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = os.urandom(32)
    while all(32 <= b < 127 for b in key):  # astronomically unlikely; keep the test exact
        key = os.urandom(32)
    assert load_journal_key(key_file=_key_file(tmp_path, key)) == key
    assert load_journal_key(key_file=_key_file(tmp_path, base64.b64encode(key) + b"\n")) == key
    monkeypatch.setenv(KEY_ENV, base64.b64encode(key).decode())
    assert load_journal_key(key_file=_key_file(tmp_path, key)) == key  # both set, same key
    monkeypatch.setenv(KEY_ENV, generate_key())
    with pytest.raises(ConfigError, match="different keys"):
        load_journal_key(key_file=_key_file(tmp_path, key))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, monkeypatch, mode: int) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = _key_file(tmp_path, base64.b64encode(KEY), mode)
    with pytest.raises(ConfigError, match=f"{path}: mode {mode:04o} .*Fix: chmod 600 {path}"):
        load_journal_key(key_file=path)


def test_bad_key_files_are_refused_with_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    cases = {
        base64.b64encode(os.urandom(16)): "decodes to 16 bytes",
        b"correct horse battery staple!!!\n": "passphrase",
        os.urandom(32) + b"\xff": "neither a raw 32-byte key nor base64",
    }
    for data, message in cases.items():
        with pytest.raises(ConfigError, match=f"{message}.*umask 077; sessionbot journal-key"):
            load_journal_key(key_file=_key_file(tmp_path, data))
    with pytest.raises(ConfigError, match="no such file"):
        load_journal_key(key_file=tmp_path / "missing.key")
