"""A crash-safe, encrypted, append-only transcript journal: one file per session.

If the process dies mid-session (even `kill -9`), every segment whose append
returned is on disk and can be read back with the key; without the key the file
shows only its plaintext header (format, session id, creation time and the
non-content metadata the caller chose to put there).

File layout (`<journal_dir>/<session_id>.journal`, mode 0600, directory 0700)::

    {"cipher": "AES-256-GCM", "created_utc": ..., "format": "sessionbot-journal", "metadata": {...},
     "session_id": ..., "version": 1}\\n
    base64(nonce[12] + AES-GCM ciphertext+tag of a JSON record)\\n      <- record 1
    base64(...)\\n                                                       <- record 2 ...

Each record's associated data binds the session id, the record's sequence number
(1, 2, ...) and a SHA-256 of the header line, so a record cannot be reordered,
dropped from the middle, moved to another journal, or kept under an edited
header without failing authentication. Dropping complete records from the end
cannot be detected (only the absence of an "end" record shows the journal is
unfinished).

Record kinds (the plaintext inside the ciphertext)::

    {"kind": "segment", "segment": Segment.to_dict()}
    {"kind": "participant", "participant": {"id", "display_name", "role"}}
    {"kind": "gap", "from_s", "to_s", "reason"}
    {"kind": "objection"}        <- a participant objected: recovery purges, never notes
    {"kind": "end", "reason"}

(A reader older than the "objection" kind refuses such a journal as malformed
and leaves it in place: safe, so the format version stays 1.)

A live journal is locked by its writer (`flock`, exclusive, on the journal file
itself) for as long as it is open; recovery claims the same lock before reading,
so it never turns a journal that another running process is writing into a note,
and two recoveries never finish the same journal.

Every append is a single write(2) of a whole line on an O_APPEND descriptor
followed by fsync(2). A crash can therefore leave at most one incomplete final
line (no trailing newline), which `read_journal` tolerates and reports as
`corrupt_tail`.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.config import ConfigError
from bot.files import PRIVATE_FILE_MODE, ensure_private_dir
from bot.log import get_logger
from bot.secrets import read_secret_file
from bot.transcribe.segment import Gap, Participant, Segment

log = get_logger(__name__)

KEY_ENV = "SESSIONBOT_JOURNAL_KEY"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT = "sessionbot-journal"
VERSION = 1
SUFFIX = ".journal"
KINDS = ("segment", "participant", "gap", "objection", "end")

_AAD_PREFIX = b"sessionbot-journal/v1\x00"
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEY_FIX = "generate one with `sessionbot journal-key`"
_Scalar = str | int | float | bool | None
_MetaValue = _Scalar | Sequence[str]  # lists of names (consent purposes), never text
_LOCK_WAIT_S = 2.0


class JournalError(Exception):
    """A journal that cannot be written or read, worded for the person who has to act on it."""


class JournalClosedError(JournalError):
    """An append to a journal that was closed, ended or deleted."""


class JournalInUseError(JournalError):
    """The journal is locked by a live process: its writer, or a recovery under way."""


# -- locking -------------------------------------------------------------------------
#
# The lock is flock(2) on the journal file itself rather than on a sibling lock file:
# the lock then lives exactly as long as the file and its writer (no stale lock files
# to clean up, no window where a lock file exists without its journal or the other way
# round), and a journal is deleted while its lock is still held. flock is released by
# the kernel when the process dies, however it dies.
#
# Over NFS (a volume shared by Kubernetes Jobs) Linux emulates flock with POSIX
# record locks, which need a descriptor open for writing and are dropped when the
# process closes *any* descriptor of the file. So a holder reads, overwrites and
# deletes through its locked descriptor only, and this process never opens a journal
# it holds itself (`_HELD`).

_HELD: set[tuple[int, int]] = set()  # (st_dev, st_ino) of the journals this process holds locked
_HELD_LOCK = threading.Lock()


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _still_named(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (not removed or replaced while we waited for its lock)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return held.st_nlink > 0 and _identity(held) == _identity(named)


def _hold(fd: int) -> tuple[int, int]:
    identity = _identity(os.fstat(fd))
    with _HELD_LOCK:
        _HELD.add(identity)
    return identity


def _release(fd: int, identity: tuple[int, int]) -> None:
    """Drop the lock (closing its descriptor is what releases it)."""
    with _HELD_LOCK:
        _HELD.discard(identity)
    os.close(fd)


def _held_here(path: Path) -> bool:
    try:
        identity = _identity(path.stat())
    except OSError:
        return False
    with _HELD_LOCK:
        return identity in _HELD


# -- keys ----------------------------------------------------------------------------


def generate_key() -> str:
    """A fresh random AES-256 key, URL-safe base64 (44 characters): for `sessionbot journal-key`."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional. Raises ValueError."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError("empty")
    urlsafe = "-" in compact or "_" in compact
    if urlsafe and ("+" in compact or "/" in compact):
        raise ValueError("mixes standard and URL-safe base64 alphabets")
    padded = compact + "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _key_from_env(env_var: str, value: str) -> bytes:
    # Never put the value itself in a message: it is (or is meant to be) a secret.
    try:
        key = _decode_base64(value)
    except ValueError:
        raise ConfigError(
            f"{env_var}: bad value ({len(value)} characters, not base64). "
            f"Fix: set it to a base64 AES-256 key; {_KEY_FIX}."
        ) from None
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{env_var}: bad value (decodes to {len(key)} bytes; an AES-256 key is {KEY_BYTES}). "
            f"Fix: {_KEY_FIX}."
        )
    return key


def _key_from_file(key_file: Path) -> bytes:
    create = f"(umask 077; sessionbot journal-key > {key_file})"
    data = read_secret_file(key_file, "journal key file", max_bytes=4096, create_command=create)
    if len(data) == KEY_BYTES:
        if all(32 <= b < 127 or b in (9, 10, 13) for b in data):
            raise ConfigError(
                f"journal key file {key_file}: bad value (32 characters of text, which is a passphrase, not a "
                f"random key). Fix: replace it with {create}."
            )
        return data
    try:
        key = _decode_base64(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(
            f"journal key file {key_file}: bad value ({len(data)} bytes, neither a raw {KEY_BYTES}-byte key "
            f"nor base64 text). Fix: replace it with {create}."
        ) from None
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"journal key file {key_file}: bad value (base64 that decodes to {len(key)} bytes; an AES-256 key "
            f"is {KEY_BYTES}). Fix: replace it with {create}."
        )
    return key


def load_journal_key(env_var: str = KEY_ENV, key_file: Path | None = None) -> bytes:
    """The 32-byte journal key, from `env_var` (base64) or `key_file` (raw 32 bytes or base64 text).

    The key file must be owner-only (no group/other permission bits). If both
    sources are set they must hold the same key; if neither is, it is an error."""
    value = os.environ.get(env_var)
    from_env = _key_from_env(env_var, value) if value else None
    from_file = _key_from_file(key_file) if key_file is not None else None
    if from_env is not None and from_file is not None and from_env != from_file:
        raise ConfigError(
            f"{env_var} and journal key file {key_file} hold different keys. "
            "Fix: unset one of them, or make them the same key (journals written with one are unreadable "
            "with the other)."
        )
    key = from_env if from_env is not None else from_file
    if key is None:
        raise ConfigError(
            f"{env_var}: not set, and no journal key file configured. "
            f"Fix: set {env_var} or a key file; {_KEY_FIX}."
        )
    return key


def _check_key(key: bytes) -> AESGCM:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"journal key must be {KEY_BYTES} bytes (AES-256); use load_journal_key()")
    return AESGCM(key)


# -- format helpers ------------------------------------------------------------------


def journal_path(journal_dir: Path, session_id: str) -> Path:
    if not _SESSION_ID.fullmatch(session_id):
        raise ValueError(f"session id {session_id!r} is not a safe file name (letters, digits, '.', '_', '-')")
    return journal_dir / f"{session_id}{SUFFIX}"


def _aad(session_id: str, seq: int, header_digest: bytes) -> bytes:
    return _AAD_PREFIX + session_id.encode("utf-8") + b"\x00" + str(seq).encode("ascii") + b"\x00" + header_digest


def _fsync_dir(directory: Path) -> None:
    """Make a file's creation or removal itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _validate_record(record: Mapping[str, Any]) -> None:
    """Raise ValueError unless `record` is a well-formed record of a known kind."""
    kind = record.get("kind")
    if kind == "segment":
        Segment(**record["segment"])
    elif kind == "participant":
        Participant(**record["participant"])
    elif kind == "gap":
        from_s, to_s = record["from_s"], record["to_s"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (from_s, to_s)) or to_s < from_s:
            raise ValueError("gap needs numbers from_s <= to_s")
        if not isinstance(record["reason"], str):
            raise ValueError("gap reason must be a string")
    elif kind == "end":
        if not isinstance(record["reason"], str):
            raise ValueError("end reason must be a string")
    elif kind == "objection":
        if set(record) != {"kind"}:
            raise ValueError("an objection record carries nothing but its kind")
    else:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")


# -- writing -------------------------------------------------------------------------


class TranscriptJournal:
    """The journal of one session, open for appending. Thread-safe.

    Creating one creates `<journal_dir>/<session_id>.journal` (exclusively: an
    existing journal is never appended to or overwritten), locks it for as long
    as it is open (see "locking" above; JournalInUseError if another process
    holds it) and writes its header. `metadata` goes into the header in
    plaintext: give it non-content facts only (language, consent mode, consented
    purposes, note template, ...), never names or text; those go in records."""

    def __init__(
        self, journal_dir: Path, session_id: str, key: bytes, metadata: Mapping[str, _MetaValue] | None = None
    ) -> None:
        self._aead = _check_key(key)
        self.session_id = session_id
        self.path = journal_path(journal_dir, session_id)
        meta: dict[str, Any] = {}
        for name, value in (metadata or {}).items():
            if isinstance(value, Sequence) and not isinstance(value, str | bytes):
                if not all(isinstance(item, str) for item in value):
                    raise TypeError(f"journal metadata {name!r}: a list may hold only str values (it is plaintext)")
                value = list(value)
            elif not isinstance(value, _Scalar):
                raise TypeError(f"journal metadata {name!r}: only str/int/float/bool/None values or lists of str "
                                "(it is plaintext)")
            if not isinstance(name, str):
                raise TypeError(f"journal metadata key {name!r}: must be a str")
            meta[name] = value
        header = {
            "format": FORMAT,
            "version": VERSION,
            "session_id": session_id,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "cipher": "AES-256-GCM",
            "metadata": meta,
        }
        header_line = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        self._header_digest = hashlib.sha256(header_line).digest()
        self._lock = threading.Lock()
        self._seq = 0
        self._state = "open"  # open | objected | ended | closed | deleted | failed
        ensure_private_dir(journal_dir)
        self._fd: int | None = None
        self._fd, self._identity = self._create_locked()
        try:
            os.fchmod(self._fd, PRIVATE_FILE_MODE)  # the umask may have removed bits, never added: be exact
            self._write_durably(header_line + b"\n")
        except BaseException:
            self.path.unlink(missing_ok=True)  # still under our lock: no recovery sees the half-made file
            _release(self._fd, self._identity)
            self._fd = None
            raise
        _fsync_dir(self.path.parent)
        log.info("journal_opened", session_id=session_id, metadata_keys=sorted(meta))

    def _create_locked(self) -> tuple[int, tuple[int, int]]:
        """Create the journal exclusively and take its lock before anything is written to it."""
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, PRIVATE_FILE_MODE)
            except FileExistsError:
                raise self._exists_error() from None
            # In the instant between open() and flock() a recovery in another process can claim the
            # new, empty file; it holds it only to remove it, so wait for that rather than fail.
            deadline = time.monotonic() + _LOCK_WAIT_S
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise JournalInUseError(
                        f"{self.path}: the journal of session {self.session_id} is locked by another process. "
                        "Fix: is another sessionbot running this session? Stop it, or use another session id."
                    )
                time.sleep(0.01)
            if _still_named(fd, self.path):
                return fd, _hold(fd)
            os.close(fd)  # that recovery removed it (empty): create it afresh
        raise JournalInUseError(
            f"{self.path}: the journal of session {self.session_id} was removed by another process while it was "
            "being created, three times. Fix: check what else runs recovery on this journal directory."
        )

    def _exists_error(self) -> JournalError:
        try:
            claim = claim_journal(self.path)
        except JournalInUseError:
            return JournalInUseError(
                f"{self.path}: a journal for session {self.session_id} is being written by a running session "
                "(in this process or another). Fix: do not run the same session twice; wait for the other one to "
                "finish, or stop it."
            )
        except OSError:
            claim = None
        if claim is not None:
            claim.release()
        return JournalError(
            f"{self.path}: a journal for session {self.session_id} already exists. "
            "Fix: recover or delete it first (journals are never reopened for writing)."
        )

    # -- appending

    @property
    def records(self) -> int:
        """Records written so far (the header not counted)."""
        return self._seq

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def append_segment(self, segment: Segment) -> None:
        if segment.session_id != self.session_id:
            raise JournalError(
                f"segment {segment.id} belongs to session {segment.session_id}, not {self.session_id}"
            )
        self.append("segment", {"segment": segment.to_dict()})

    def append_participant(self, participant: Participant) -> None:
        self.append("participant", {"participant": {
            "id": participant.id, "display_name": participant.display_name, "role": participant.role,
        }})

    def append_gap(self, from_s: float, to_s: float, reason: str) -> None:
        """Audio that was not transcribed (pause, overflow, restart), in session seconds."""
        self.append("gap", {"from_s": round(from_s, 2), "to_s": round(to_s, 2), "reason": reason})

    def end(self, reason: str) -> None:
        """Write the "end" record (the session finished normally) and close."""
        self.append("end", {"reason": reason})

    def mark_objection(self) -> None:
        """Durably record that someone objected, before delete(): if the process dies in between,
        recovery purges the journal instead of making a note of it. Content-free.

        Nothing can be appended afterwards; the journal stays locked until delete() or close().
        Never raises for a journal that cannot take the marker (already closed, ended or failed,
        disk full): it logs that, and the caller goes on to delete() regardless."""
        with self._lock:
            if self._state == "objected":
                return
        try:
            self.append("objection", {})
        except JournalError as exc:
            log.error("journal_objection_not_marked", session_id=self.session_id, state=self._state,
                      error=type(exc).__name__)
            return
        log.info("journal_objection_marked", session_id=self.session_id, records=self._seq)

    def append(self, kind: str, data: Mapping[str, Any]) -> None:
        """Encrypt and append one record, durably: when this returns, the record survives a crash."""
        record = {**data, "kind": kind}
        try:
            _validate_record(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"not a valid {kind!r} journal record: {type(exc).__name__}: {exc}") from None
        plaintext = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        with self._lock:
            if self._state != "open":
                raise JournalClosedError(f"{self.path}: journal is {self._state}; nothing more can be appended")
            seq = self._seq + 1
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._aead.encrypt(nonce, plaintext, _aad(self.session_id, seq, self._header_digest))
            try:
                self._write_durably(base64.b64encode(nonce + sealed) + b"\n")
            except OSError as exc:
                # A partial line may now end the file; stop here so it stays the (tolerated) torn tail.
                self._close_locked("failed")
                log.error("journal_write_failed", session_id=self.session_id, seq=seq, kind=kind,
                          error=type(exc).__name__, errno=exc.errno)
                raise JournalError(
                    f"{self.path}: writing record {seq} failed ({exc.strerror}); the journal is closed and keeps "
                    f"the {seq - 1} records before it. Fix: check free space and permissions of the journal directory."
                ) from exc
            self._seq = seq
            if kind == "end":
                self._close_locked("ended")
            elif kind == "objection":
                self._state = "objected"  # keeps the descriptor, and so the lock, until delete()

    def _write_durably(self, line: bytes) -> None:
        assert self._fd is not None
        view = memoryview(line)
        while view:  # one write(2) in practice; loop only in case of a short write
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)  # raw fd: no user-space buffer to flush first

    # -- closing

    def _close_locked(self, state: str) -> None:
        """Close the descriptor (which releases the lock); `state` is kept unless the journal was already
        ended/failed/deleted (a later close() does not hide why it stopped, but a delete() always shows)."""
        if self._fd is not None:
            _release(self._fd, self._identity)
            self._fd = None
        if self._state in ("open", "objected") or state == "deleted":
            self._state = state

    def close(self) -> None:
        """Close without an "end" record: the journal stays listed by find_unfinished()."""
        with self._lock:
            self._close_locked("closed")

    def delete(self) -> None:
        """Overwrite the file with zeros once, fsync, unlink it, and close (see delete_journal()).

        All while still holding the lock, so no recovery can claim the journal half-deleted."""
        with self._lock:
            try:
                if self._fd is not None:
                    _erase(self.path, _without_append(self._fd))
                else:
                    delete_journal(self.path)
            finally:
                self._close_locked("deleted")
        log.info("journal_deleted", session_id=self.session_id, records=self._seq)

    def __enter__(self) -> TranscriptJournal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def delete_journal(path: Path) -> None:
    """Overwrite a journal's bytes with zeros once, fsync, unlink, fsync the directory.

    The overwrite is best effort. On SSDs (wear levelling, remapped blocks), on
    copy-on-write or log-structured filesystems (btrfs, ZFS, APFS, F2FS), under
    snapshots or backups, the old blocks may survive: overwriting is not a
    guarantee. What protects the content is the encryption; the overwrite only
    removes the ciphertext from the easy places. A missing file is not an error;
    a file that cannot be unlinked is (the caller must know it is still there)."""
    try:
        fd = os.open(path, os.O_WRONLY)  # not O_APPEND: the zeros must land on the old bytes
    except FileNotFoundError:
        return
    except OSError:
        fd = -1
    try:
        _erase(path, fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _without_append(fd: int) -> int:
    """`fd` with O_APPEND cleared: with it, Linux puts pwrite() at the end instead of at the offset."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_APPEND)
    except OSError:
        return -1  # no overwrite then; the unlink still happens
    return fd


def _erase(path: Path, fd: int) -> None:
    """Zero the file through `fd` (writable, not O_APPEND; -1 for none), then unlink `path`. Leaves `fd` open."""
    if fd >= 0:
        try:
            size = os.fstat(fd).st_size
            zeros = bytes(min(size, 1 << 16))
            offset = 0
            while offset < size:
                offset += os.pwrite(fd, zeros[: size - offset], offset)
            os.fsync(fd)
        except OSError as exc:
            log.warning("journal_overwrite_failed", error=type(exc).__name__)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalError(f"{path}: could not delete the journal ({exc.strerror}). Fix: delete it by hand.") from exc
    _fsync_dir(path.parent)


class JournalWriter:
    """A TranscriptBuffer listener: `buffer.subscribe(JournalWriter(journal))`.

    `journal.append_segment` can be subscribed directly too, but then a journal
    failure (disk full) raises inside `TranscriptBuffer.append` and the listeners
    after it (the objection check) never see the segment. This adapter never
    raises: failures are counted and logged once (ids and error types only), and
    appends after the journal was closed, ended or deleted (an objection) are
    skipped silently."""

    def __init__(self, journal: TranscriptJournal) -> None:
        self.journal = journal
        self.written = 0
        self.skipped = 0
        self.failures = 0

    def __call__(self, segment: Segment) -> None:
        try:
            self.journal.append_segment(segment)
        except JournalClosedError:
            self.skipped += 1
            return
        except (JournalError, OSError) as exc:
            self.failures += 1
            if self.failures == 1:
                log.error("journal_segment_not_saved", session_id=self.journal.session_id, segment_id=segment.id,
                          error=type(exc).__name__)
            return
        self.written += 1


# -- reading -------------------------------------------------------------------------


@dataclass
class JournalContents:
    path: Path
    header: dict[str, Any]  # {} when the crash came before the header was complete
    segments: list[Segment] = field(default_factory=list)  # ordered like TranscriptBuffer.segments()
    gaps: list[Gap] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)  # last record per id, first-seen order
    ended: bool = False
    end_reason: str | None = None
    objected: bool = False  # carries the objection marker: to be purged, never made into a note
    corrupt_tail: bool = False  # the last line was torn by a crash mid-write and was ignored
    records: int = 0  # complete, authenticated records

    @property
    def session_id(self) -> str | None:
        return self.header.get("session_id")


def read_journal(path: Path, key: bytes) -> JournalContents:
    """Decrypt and authenticate every record of a journal.

    A final line without its newline (a crash mid-write) is ignored and reported
    as `corrupt_tail`. Anything else that does not parse or authenticate (wrong
    key, reordered/removed/foreign records, edited header) raises JournalError.

    This reads without the lock: for recovery, claim_journal() and read() the claim."""
    return _parse_journal(path, path.read_bytes(), key)


def _parse_journal(path: Path, data: bytes, key: bytes) -> JournalContents:
    aead = _check_key(key)
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    contents = JournalContents(path=path, header={}, corrupt_tail=bool(torn))
    if not lines:  # crashed before the header line was complete: no record can follow it
        return contents
    header_line, *record_lines = lines
    try:
        header = json.loads(header_line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JournalError(f"{path}: the first line is not a journal header. Fix: check the path.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise JournalError(f"{path}: not a {FORMAT} file. Fix: check the path.")
    if header.get("version") != VERSION:
        raise JournalError(
            f"{path}: journal format version {header.get('version')!r}; this sessionbot reads version {VERSION}. "
            "Fix: read it with the sessionbot version that wrote it."
        )
    session_id = header.get("session_id")
    if not isinstance(session_id, str):
        raise JournalError(f"{path}: header has no session_id. Fix: the file is damaged; it cannot be read.")
    contents.header = header
    digest = hashlib.sha256(header_line).digest()
    participants: dict[str, Participant] = {}
    for seq, line in enumerate(record_lines, start=1):
        where = f"{path}: record {seq} (line {seq + 1})"
        if contents.ended:
            raise JournalError(f"{where} follows the end record. Fix: the journal was altered; do not trust it.")
        try:
            raw = base64.b64decode(line, validate=True)
            if len(raw) < NONCE_BYTES + TAG_BYTES:
                raise ValueError("too short")
            plaintext = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(session_id, seq, digest))
        except (binascii.Error, ValueError):
            raise JournalError(f"{where} is not a complete record. Fix: the file is damaged past this point.") from None
        except InvalidTag:
            hint = ("the key is not the one this journal was written with" if seq == 1 else
                    "records were reordered, removed or copied from another journal, or the file was altered")
            raise JournalError(
                f"{where} failed authentication: {hint}. Fix: use the key the journal was written with; "
                "if that is the key, the journal was tampered with and cannot be trusted."
            ) from None
        try:
            record = json.loads(plaintext)
            _validate_record(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"{where} authenticated but is malformed ({type(exc).__name__}).") from None
        kind = record["kind"]
        if kind == "segment":
            contents.segments.append(Segment(**record["segment"]))
        elif kind == "participant":
            p = Participant(**record["participant"])
            participants[p.id] = p
        elif kind == "gap":
            contents.gaps.append(Gap(float(record["from_s"]), float(record["to_s"]), record["reason"]))
        elif kind == "objection":
            contents.objected = True
        else:
            contents.ended = True
            contents.end_reason = record["reason"]
        contents.records = seq
    contents.segments.sort(key=lambda s: (s.start, s.id))
    contents.participants = list(participants.values())
    return contents


def find_unfinished(journal_dir: Path, key: bytes) -> list[Path]:
    """Journals in `journal_dir` without an "end" record, oldest first.

    The "end" record is encrypted like every other, so this needs the key. A
    journal that cannot be read (wrong key, damage) is listed too: it is not
    known to be finished, and read_journal() on it gives the reason. So is one
    that carries the objection marker (it still has to be purged), and one this
    process is writing (listed unread: see "locking"). A journal another process
    is writing is listed too; recovery skips it by claim_journal()."""
    _check_key(key)
    if not journal_dir.is_dir():
        return []
    found: list[tuple[float, str, Path]] = []
    for path in journal_dir.glob(f"*{SUFFIX}"):
        try:
            info = path.stat()
        except OSError:  # deleted meanwhile
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((info.st_mtime, path.name, path))
    unfinished: list[Path] = []
    for _mtime, _name, path in sorted(found):
        if _held_here(path):
            unfinished.append(path)
            continue
        try:
            contents = read_journal(path, key)
            finished = contents.ended and not contents.objected
        except (JournalError, OSError) as exc:
            log.warning("journal_unreadable", file=path.name, error=type(exc).__name__)
            finished = False
        if not finished:
            unfinished.append(path)
    return unfinished


# -- claiming for recovery -------------------------------------------------------------


class ClaimedJournal:
    """A journal locked by this process for recovery: its writer is gone (crashed, or finished),
    and no other recovery can claim it until release(). Read and delete it through the claim."""

    def __init__(self, path: Path, fd: int, identity: tuple[int, int]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._identity = identity

    def read(self, key: bytes) -> JournalContents:
        """Like read_journal(), through the locked descriptor."""
        if self._fd is None:
            raise JournalClosedError(f"{self.path}: the claim was released")
        size = os.fstat(self._fd).st_size
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(self._fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return _parse_journal(self.path, b"".join(chunks), key)

    def delete(self) -> None:
        """Zero, unlink and release (see delete_journal()), the lock held until the file is gone."""
        if self._fd is None:
            raise JournalClosedError(f"{self.path}: the claim was released")
        try:
            _erase(self.path, self._fd)
        finally:
            self.release()

    def release(self) -> None:
        if self._fd is not None:
            _release(self._fd, self._identity)
            self._fd = None

    def __enter__(self) -> ClaimedJournal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def claim_journal(path: Path) -> ClaimedJournal | None:
    """Lock `path` for recovery, without waiting. None if it is gone (another recovery finished it);
    JournalInUseError if a live process holds it: its writer, this process included, or a recovery."""
    if _held_here(path):
        raise JournalInUseError(f"{path}: this process is writing or recovering it")
    try:
        # Read-write, though recovery only reads: over NFS an exclusive flock needs a writable descriptor.
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if not _try_lock(fd):
            raise JournalInUseError(f"{path}: locked by a running process (its writer, or another recovery)")
        if not _still_named(fd, path):
            os.close(fd)
            return None
    except BaseException:
        os.close(fd)
        raise
    return ClaimedJournal(path, fd, _hold(fd))
