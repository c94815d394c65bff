"""Typed settings loaded from a TOML file, with errors that name the key and the fix.

Every key has a default, so an empty file (or no file) is a valid configuration.
Unknown keys are errors: a typo must never be silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.net_policy import cleartext_problem
from bot.resources import ANNOUNCEMENTS_DIR, RISK_DIR, TEMPLATES_DIR, listing, use_overrides, where_to_copy

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ANNOUNCEMENTS_DIR = ANNOUNCEMENTS_DIR


def default_cache_dir() -> Path:
    env = os.environ.get("SESSIONBOT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sessionbot"


def default_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "sessionbot"


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BotSettings(_Section):
    display_name: str = Field(
        "Session assistant (AI)", min_length=1, max_length=64,
        description="Name shown in the call. Keep \"AI\" in it: people should know.",
    )


class SessionSettings(_Section):
    language: str = Field("en", description="Session language: announcements/<language>.toml must exist.")
    note_template: str = Field(
        "progress", pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="A template in paths.templates_dir: progress (the default; why: docs/notes.md), soap, dap, "
        "birp, or one a clinician added as <name>.<language>.toml; 'simple' quotes every utterance instead.",
    )


Purpose = Literal["notes", "risk_flags", "client_summary"]


class ConsentSettings(_Section):
    mode: Literal["implied", "written", "declined"] = Field(
        "implied",
        description="implied: announce, continuing is consent; written: join only with a written consent "
        "reference (Illinois 225 ILCS 155/15(b)); declined: never join.",
    )
    written_consent_ref: str | None = Field(
        None, max_length=200, description="Reference to the client's signed consent (required in written mode)."
    )
    purposes: list[Purpose] = Field(
        default_factory=lambda: ["notes"],
        description="What the client consented to, each separately. What is not listed is not produced.",
    )
    objection_sensitivity: Literal["balanced", "cautious"] = Field(
        "cautious", description="cautious also stops on weaker signals: a false stop costs a note, a miss costs trust."
    )
    semantic_signal: bool = Field(
        True, description="cautious only: also stop when an utterance naming the assistant or recording means "
        "an objection by a regression over its embedding, trained on announcements/examples/*.toml.",
    )
    semantic_threshold: float = Field(
        0.9, ge=0.5, le=0.999,
        description="Probability of an objection at which the semantic signal stops the session "
        "(lower = stops more; 0.9 errs towards stopping, 0.98 keeps cross-validated false stops within 1 %).",
    )
    semantic_head: Literal["mlp", "logistic"] = Field(
        "mlp", description="cautious only: what scores an utterance's embedding: a small neural head (mlp) or the "
        "logistic regression it replaced (logistic, kept for comparison); both learn from "
        "announcements/examples/*.toml when a session starts (the mlp once, then from the cache).",
    )
    learn_heard_versions: bool = Field(
        True, description="cautious only: the head also learns what the recognizer made of the spoken examples "
        "(announcements/examples/heard/, scripts/dev/hear_examples.py), so that misheard objections still read "
        "as objections; false = the typed examples alone (the benchmark's baseline).",
    )
    learn_mined_negatives: bool = Field(
        True, description="cautious only: the head also learns, as non-objections, sentences of ordinary clinical "
        "talk it found suspicious (announcements/examples/mined/, scripts/dev/mine_clinical_negatives.py), so that "
        "\"can you bend your knee\" does not stop a session; false = without them (the benchmark's baseline).",
    )
    untargeted_threshold: float = Field(
        0.95, ge=0.5, le=1.0,
        description="cautious only: probability of an objection at which a whole utterance of four words or more "
        "that names no assistant or recording word (\"I'd feel safer if nothing was taking notes\") stops the "
        "session; it is never asked about; 1.0 turns this off. 0.95: cross-validated on the examples, +7.4 points "
        "of recall for +0.1 of false stops beside consent.semantic_threshold alone (docs/consent.md).",
    )
    clinician_commands: bool = Field(
        True, description="Honour /stop, /pause and /resume typed by a clinician (the role the room's clinician "
        "token grants; a participant who types /stop is heard as objecting)."
    )
    ask_on_join: bool = Field(
        False, description="Also ask each participant, when they join, whether they agree (a choice in the room "
        "page); their speech is kept only after they agree, and declining stops the session like an objection.",
    )

    ask_when_unsure: bool = Field(
        True, description="cautious only: when the semantic signal is between consent.ask_threshold and "
        "consent.semantic_threshold, ask the speaker (chat and a short spoken question, in the session's "
        "language) whether the assistant should leave, instead of carrying on silently; a yes, an objection "
        "or the leave button stops it exactly as an objection does.",
    )
    ask_threshold: float = Field(
        0.5, ge=0.05, le=0.999,
        description="Probability of an objection from which the assistant asks (below consent.semantic_threshold, "
        "where it stops). 0.5: of 0.3, 0.5, 0.6, 0.7 and 0.8 the lowest that asks about at most 3 % of "
        "cross-validated non-objections in every language (`sessionbot bench consent`, examples_cross_validated.asking_by_ask_threshold).",
    )
    ask_instead_below: float = Field(
        0.05, ge=0.0, lt=0.5,
        description="cautious, with consent.ask_when_unsure: when a rule (not a bare \"stop\") finds an objection "
        "that the semantic signal gives a probability below this (\"Is it recording right now?\", \"Is the AI "
        "transcribing everything right now?\"), the assistant asks instead of stopping; 0 turns this off. 0.05: cross-validated, "
        "it halved the false stops on hard negatives for half a point of recall, every such objection still asked "
        "about (docs/consent.md).",
    )
    ask_every_min: float = Field(
        10.0, gt=0, le=240, description="Ask the same participant at most once per this many minutes.",
    )
    context_s: float = Field(
        45.0, ge=0, le=600,
        description="For at most this long after the assistant announced itself (and while it does), until someone "
        "else takes the floor, \"turn that thing off\", \"not today, thanks\" and the like refuse the assistant "
        "(docs/consent.md, What was said just before).",
    )
    ask_window_s: float = Field(
        20.0, ge=3, le=120,
        description="How long an answer is awaited; meanwhile that participant's speech is held, not kept. "
        "Silence carries on, without keeping the utterance that raised the question.",
    )

    @field_validator("purposes")
    @classmethod
    def _unique(cls, purposes: list[str]) -> list[str]:
        return list(dict.fromkeys(purposes))

    @field_validator("ask_threshold")
    @classmethod
    def _asks_below_stopping(cls, ask_threshold: float, info: Any) -> float:
        stop = info.data.get("semantic_threshold")
        if stop is not None and ask_threshold >= stop:
            raise ValueError(f"must be below consent.semantic_threshold ({stop}), where the assistant stops (it asks "
                             "between the two). Fix: lower consent.ask_threshold, or set consent.ask_when_unsure = false")
        return ask_threshold


class TranscriptionSettings(_Section):
    language: str | None = Field(
        None, description="Language to transcribe; unset = session.language; 'auto' = detect once per participant."
    )
    model: str = Field("base", description="'base', 'tiny.en', a CTranslate2 model directory, or a hub name.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto uses CUDA when CTranslate2 sees a GPU.")
    compute_type: str = Field("int8", description="CTranslate2 compute type on CPU (int8_float16 on CUDA).")
    cpu_threads: int = Field(1, ge=1, le=64, description="Intra-op threads per decode (1 is best on small CPUs).")
    num_workers: int = Field(
        2, ge=1, le=16, description="Batches that may decode at once (model replicas, one thread each by default). "
        "Two use both cores of a small machine: 12 two-party sessions went from p95 2.61 s to 1.74 s (bench asr).",
    )
    beam_size: int = Field(
        5, ge=1, le=10, description="Beam size for final text (1 = greedy); partials are always greedy. While another "
        "decoder is at work, or transcription.greedy_when_waiting finals wait, finals are greedy. 5: in one bench "
        "consent run it caught 61 of 120 spoken blind-set objections against 58 greedy, with the same 8 false stops "
        "of 240, and it brings streaming word errors close to offline decoding (docs/transcription.md).",
    )
    greedy_when_waiting: int = Field(
        2, ge=1, le=1000, description="With this many finals waiting for the model, the next batch of finals is "
        "decoded the cheap way (greedy, without context): accuracy gives way before latency does (metric "
        "sessionbot_transcription_finals_greedy).",
    )
    context_s: float = Field(
        10.0, ge=0.0, le=20.0,
        description="A final is heard after the same speaker's last kept utterances (up to three), whose text is "
        "forced as the decoder's prefix (Whisper hears each sentence in context): as many as fit with it in this "
        "many seconds, so the window and its cost stay bounded. 0 = each utterance alone. Dropped, like the beam, "
        "while another decoder is at work or finals wait.",
    )
    no_speech_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="Output is dropped when Whisper's no-speech probability is above this and "
        "the mean log-probability below transcription.log_prob_threshold.",
    )
    log_prob_threshold: float = Field(
        -1.0, le=0.0, description="Below this mean log-probability, output is decoded again carefully, then dropped "
        "if still below.",
    )
    compression_ratio_threshold: float = Field(
        2.4, gt=1.0, description="Text that compresses better than this (repetition) is decoded again carefully, "
        "then dropped.",
    )
    window_padding_s: float = Field(
        2.0, ge=0.0, le=30.0,
        description="Silence added after each utterance in the encoder window; 0 = Whisper's full 30 s window.",
    )
    max_batch: int = Field(4, ge=1, le=32, description="Utterances from different streams decoded together.")
    max_queue: int = Field(64, ge=1, le=10_000, description="Utterances waiting for the model; overflow is logged.")
    partial_after_s: float = Field(
        3.0, ge=0.0, le=30.0, description="An utterance longer than this yields partial text (0 = never)."
    )
    partial_every_s: float = Field(2.0, gt=0.0, le=30.0, description="How often partial text is refreshed.")
    partial_window_s: float = Field(
        6.0, ge=0.0, le=30.0,
        description="A partial transcribes only the last this-many seconds of the open utterance, so its cost "
        "stays bounded however long someone talks (0 = all of it).",
    )
    consent_prompt: bool = Field(
        True, description="Prime the recognizer with the language's asr_prompt so objections are heard."
    )


class VadSettings(_Section):
    aggressiveness: int = Field(2, ge=0, le=3, description="webrtcvad strictness, 0 (lenient) to 3 (strict).")
    frame_ms: Literal[10, 20, 30] = Field(30, description="Length of the frames the VAD classifies.")
    hangover_ms: int = Field(600, ge=90, le=5000, description="Silence that ends an utterance.")
    early_final_ms: int = Field(
        240, ge=0, le=5000,
        description="After this much silence (less than vad.hangover_ms) the utterance so far is decoded ahead of "
        "time while a decoder is idle; when the hang-over confirms the pause, that text is the final at once "
        "(0, or not below vad.hangover_ms = off). Speech that resumes sooner only costs the idle decoder's time.",
    )
    min_speech_ms: int = Field(
        250, ge=30, le=5000, description="Utterances with less speech (coughs, clicks) are not transcribed; they are "
        "still checked for an objection.",
    )
    max_utterance_s: float = Field(
        15.0, ge=2.0, le=30.0, description="Longer speech is cut into pieces of at most this."
    )


class IceSettings(_Section):
    host_addresses: list[str] = Field(
        default_factory=list,
        description="Addresses ICE gathers host candidates on; empty = every interface but loopback (aioice default).",
    )
    stun_servers: list[str] = Field(
        default_factory=list, description="STUN/TURN URLs; none by default, so nothing leaves the machine."
    )


class JanusSettings(_Section):
    pin_file: Path | None = Field(
        None, description="File holding the room PIN (0600); or set SESSIONBOT_JANUS_PIN. Never in this file."
    )
    secret_file: Path | None = Field(
        None, description="File holding the room secret, needed to create the room; or SESSIONBOT_JANUS_SECRET."
    )
    token_file: Path | None = Field(
        None, description="File holding the Janus API token (token_auth); or set SESSIONBOT_JANUS_TOKEN."
    )
    tls_verify: bool = Field(True, description="Verify the server certificate of janus+wss:// links.")
    ca_file: Path | None = Field(None, description="CA bundle for janus+wss:// (default: the system's).")
    keepalive_s: float = Field(25.0, gt=0, le=300, description="Keepalive interval; below Janus's session_timeout.")
    request_timeout_s: float = Field(10.0, gt=0, le=120, description="How long to wait for Janus to answer a request.")
    reconnect_initial_s: float = Field(0.25, gt=0, le=60, description="First wait before rejoining after a fault.")
    reconnect_max_s: float = Field(5.0, gt=0, le=600, description="Longest wait between rejoin attempts (doubling).")
    unreachable_limit_s: float = Field(
        60.0, gt=0, le=86_400, description="End the session (with a note) when Janus stays unreachable this long."
    )
    allow_create_room: bool = Field(False, description="Create the room when Janus does not have it (e.g. after a restart).")
    allow_insecure_websocket: bool = Field(
        False, description="Allow janus:// (plain websocket: the PIN and API token unencrypted) to a host other "
        "than this machine. Off: such links are refused; use janus+wss://.",
    )


class LeaveSettings(_Section):
    nobody_joined_timeout_s: float = Field(1200.0, gt=0, description="Leave if nobody else joins within this time.")
    everyone_left_grace_s: float = Field(
        2.0, ge=0, description="Leave this long after the last other participant left."
    )
    scheduled_end_grace_s: float = Field(
        600.0, ge=0, description="Scheduled sessions: leave this long after the scheduled end."
    )
    max_duration_s: float = Field(10_800.0, gt=0, description="Hard maximum length of any session.")
    waiting_room_timeout_s: float = Field(
        1200.0, gt=0, description="Give up a join attempt (including waiting to be admitted) after this long."
    )


class JournalSettings(_Section):
    enabled: bool = Field(True, description="Keep an encrypted journal so a crash loses no transcript.")
    directory: Path = Field(
        default_factory=lambda: default_state_dir() / "journal",
        description="Where journals live (0700; files 0600); the default follows XDG_STATE_HOME when it is set.",
    )
    key_file: Path | None = Field(
        None, description="32-byte key file (0600); or set SESSIONBOT_JOURNAL_KEY (base64)."
    )
    keep_after_note: bool = Field(False, description="Keep the journal after the note is written (default: delete).")


class RoomSettings(_Section):
    host: str = Field("127.0.0.1", description="Address `sessionbot room` listens on (--host).")
    port: int = Field(8765, ge=0, le=65535, description="Port of `sessionbot room` (--port).")
    token: str | None = Field(None, description="Join token; prefer the SESSIONBOT_ROOM_TOKEN environment variable.")
    clinician_token: str | None = Field(
        None, description="The clinician's private join token (admits the roles clinician and bot: the chat "
        "commands); must differ from room.token; prefer SESSIONBOT_ROOM_CLINICIAN_TOKEN. Unset: a random one per room."
    )
    max_message_bytes: int = Field(
        65_536, ge=4_096, le=1_048_576, description="Largest signalling message; a larger one closes that connection."
    )
    messages_per_s: float = Field(50.0, gt=0, le=10_000, description="Average signalling messages a second per connection.")
    burst: int = Field(200, ge=1, le=100_000, description="Messages a connection may send at once before the rate applies.")
    resume_grace_s: float = Field(
        20.0, ge=0, le=600, description="How long a peer whose signalling socket dropped (no close frame) keeps its "
        "place, so it can resume without the others seeing it leave; 0 = it leaves at once.",
    )

    @field_validator("clinician_token")
    @classmethod
    def _distinct_tokens(cls, clinician_token: str | None, info: Any) -> str | None:
        if clinician_token is not None and clinician_token == info.data.get("token"):
            raise ValueError("must differ from room.token, or every participant could act as the clinician")
        return clinician_token


class NoteSettings(_Section):
    include_transcript: bool = Field(
        True, description="Append the cited transcript to the note so every citation can be checked."
    )
    generator: Literal["local", "openai_compatible"] = Field(
        "local", description="local: drafted on this machine (default). openai_compatible: a chat-completions server "
        "the site runs (notes.endpoint); its statements pass the same evidence check, and the local generator is used "
        "when it fails. Only for structured templates."
    )
    endpoint: str | None = Field(
        None, description="Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 (required with "
        "openai_compatible; no default service)."
    )
    allow_insecure_endpoint: bool = Field(
        False, description="Allow an http:// notes.endpoint on a host other than this machine (the whole "
        "transcript unencrypted). Off: only https:// or loopback http://.",
    )
    api_key_env: str | None = Field(
        None, description="Name of the environment variable that holds the API key; the key never goes in this file."
    )
    timeout_s: float = Field(120.0, gt=0, le=600, description="Longest wait for the model server's answer.")
    connect_timeout_s: float = Field(5.0, gt=0, le=60, description="Longest wait to connect to the model server.")
    unsupported: Literal["drop", "flag"] = Field(
        "drop", description="A model statement its cited transcript does not support: drop it, or keep it marked "
        "'unsupported — verify'."
    )
    model: str | None = Field(  # last: its check reads the fields above
        None, validate_default=True, description="Model name sent to the server (required with openai_compatible)."
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_http(cls, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        if not endpoint.startswith(("http://", "https://")) or "@" in endpoint.split("/")[2]:
            raise ValueError("expected an http:// or https:// URL without credentials (the key goes in the "
                             "environment variable named by notes.api_key_env)")
        return endpoint.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not name.replace("_", "a").isalnum():
            raise ValueError("expected the NAME of an environment variable (letters, digits, _), not the key itself")
        return name

    @field_validator("model")
    @classmethod
    def _model_server_complete(cls, model: str | None, info: Any) -> str | None:
        if info.data.get("generator") == "openai_compatible" and (not model or not info.data.get("endpoint")):
            raise ValueError("notes.generator = 'openai_compatible' needs both notes.endpoint and notes.model")
        return model


class PathSettings(_Section):
    output_dir: Path = Field(
        Path("notes"), description="Notes, objection records and audit records (created 0700; files 0600)."
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir, description="Provisioned models, in <cache_dir>/models/<name>/. The "
        "default is SESSIONBOT_CACHE_DIR when set, else $XDG_CACHE_HOME/sessionbot.",
    )
    announcements_dir: Path = Field(
        DEFAULT_ANNOUNCEMENTS_DIR, description="Announcement texts and objection rules, one file per language."
    )
    risk_dir: Path = Field(RISK_DIR, description="Risk-language lexicons and examples, per language.")
    templates_dir: Path = Field(TEMPLATES_DIR, description="Note templates, <name>.<language>.toml.")
    overrides_dir: Path | None = Field(
        None, description="A clinician's own announcements/, templates/ and risk/ files, searched first, per "
        "file, before the packaged ones (SESSIONBOT_OVERRIDES_DIR wins over this key).")


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="The least severe events logged.")
    file: Path | None = Field(None, description="JSON-lines log file; default is standard error.")


class Settings(_Section):
    bot: BotSettings = Field(default_factory=BotSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    vad: VadSettings = Field(default_factory=VadSettings)
    ice: IceSettings = Field(default_factory=IceSettings)
    leave: LeaveSettings = Field(default_factory=LeaveSettings)
    janus: JanusSettings = Field(default_factory=JanusSettings)
    room: RoomSettings = Field(default_factory=RoomSettings)
    notes: NoteSettings = Field(default_factory=NoteSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    paths: PathSettings = Field(default_factory=PathSettings, validate_default=True)  # sets the overrides dir
    logging: LogSettings = Field(default_factory=LogSettings)

    @field_validator("paths")
    @classmethod
    def _expand_paths(cls, paths: PathSettings) -> PathSettings:
        use_overrides(paths.overrides_dir)  # raises naming paths.overrides_dir when it is not a directory
        return PathSettings(
            output_dir=paths.output_dir.expanduser(),
            cache_dir=paths.cache_dir.expanduser(),
            announcements_dir=paths.announcements_dir.expanduser(),
            risk_dir=paths.risk_dir.expanduser(),
            templates_dir=paths.templates_dir.expanduser(),
            overrides_dir=paths.overrides_dir.expanduser() if paths.overrides_dir else None,
        )

    def available_languages(self) -> list[str]:
        return [p.stem for p in listing(self.paths.announcements_dir, "*.toml")]

    def check_note_template(self) -> None:
        """Load the configured template now, so a broken file fails at start-up, not after a session."""
        if self.session.note_template == "simple":
            return
        from bot.notes.templates import load_template  # noqa: PLC0415 - bot.notes imports bot.config

        try:
            load_template(self.session.note_template, self.session.language, self.paths.templates_dir)
        except ConfigError as exc:
            raise ConfigError(f"session.note_template: {exc}") from None

    def check_cleartext(self) -> None:
        """Refuse an unencrypted model server off this machine unless notes.allow_insecure_endpoint says so."""
        endpoint = self.notes.endpoint
        if endpoint is not None and not self.notes.allow_insecure_endpoint:
            problem = cleartext_problem(endpoint, key="notes.endpoint", flag="notes.allow_insecure_endpoint",
                                        carries="the whole transcript", fix="use https://")
            if problem:
                raise ConfigError(problem)

    def check_language(self, language: str, key: str = "session.language") -> None:
        languages = self.available_languages()
        if language not in languages:
            raise ConfigError(
                f"{key}: unknown language {language!r}. Fix: use one of {', '.join(languages) or '(none found)'}"
                f" or add announcements/{language}.toml to paths.overrides_dir (copy {where_to_copy('announcements/en.toml')})."
            )


_FIXES: dict[str, str] = {
    "extra_forbidden": "remove it or check its spelling against config/sessionbot.example.toml",
    "missing": "add it",
}


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    value = error.get("input")
    if key == "notes.api_key_env":  # someone may have pasted the key itself: never echo it
        value = "(not shown)"
    fix = _FIXES.get(error["type"], f"expected: {error['msg'].lower()}")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key. Fix: {fix}."
    if error["type"] == "value_error" and "Fix:" in error["msg"]:  # a validator that words its own fix
        return f"{key}: bad value {value!r}: {error['msg'].removeprefix('Value error, ')}."
    return f"{key}: bad value {value!r} ({error['msg']}). Fix: {fix}."


def settings_from_mapping(data: dict[str, Any], source: str = "configuration") -> Settings:
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{source} is not valid:\n  {problems}") from None
    settings.check_language(settings.session.language)
    settings.check_note_template()
    settings.check_cleartext()
    return settings


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings from a TOML file (optional) and apply dotted-key overrides such as
    {"session.language": "es"} from the command line."""
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file. Fix: check the path.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML: {exc}. Fix: correct the syntax at that line "
                "(strings need quotes, tables look like [section])."
            ) from None
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    return settings_from_mapping(data, source)
