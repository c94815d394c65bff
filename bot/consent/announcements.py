"""Localized announcement texts, loaded from announcements/<language>.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config import ConfigError
from bot.resources import listing, lookup, where_to_copy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Messages(_Strict):
    announcement: str = Field(min_length=20)
    late_joiner: str = Field(min_length=20)
    acknowledgement: str = Field(min_length=5)
    # The join-time question (consent.ask_on_join), shown in the room page with agree / decline.
    consent_question: str | None = Field(None, min_length=20)
    # The question when an utterance may be an objection (consent.ask_when_unsure, bot/consent/unsure.py).
    ask_unsure: str | None = Field(None, min_length=10)


class UnsureAnswers(_Strict):
    """Answers to ask_unsure that mean "yes, leave" (regular expressions over normalized text, whole
    words), and phrases cut out first because they mean "stay" ("don't go", "go on")."""

    leave: list[str] = Field(default_factory=list)
    stay: list[str] = Field(default_factory=list)


class Announcements(_Strict):
    language: str
    voice: str
    words_per_minute: int = Field(160, ge=80, le=400)
    spoken: Messages
    text: Messages
    objection: dict[str, list[str] | dict[str, str]]  # compiled and checked by bot.consent.objection (shorthand: a table)
    # Context for the recognizer, so that the words people use to address the
    # assistant ("AI", "bot", "stop recording") are heard as such (docs/transcription.md).
    asr_prompt: str = Field("", max_length=300)
    unsure_answers: UnsureAnswers = Field(default_factory=UnsureAnswers)

    def spoken_for(self, kind: str, name: str) -> str:
        return getattr(self.spoken, kind).format(name=name)

    def text_for(self, kind: str, name: str) -> str:
        return getattr(self.text, kind).format(name=name)


def load_announcements(directory: Path, language: str) -> Announcements:
    path = lookup(directory, f"{language}.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        available = [p.stem for p in listing(directory, "*.toml")]
        raise ConfigError(
            f"session.language: no announcements for {language!r} ({path} is missing). "
            f"Fix: use one of {', '.join(available)} or add announcements/{language}.toml to paths.overrides_dir "
            f"(copy {where_to_copy('announcements/en.toml')})."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix: correct the syntax at that line.") from None
    try:
        announcements = Announcements.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}. Fix: compare with {where_to_copy('announcements/en.toml')}.") from None
    if announcements.language != language:
        raise ConfigError(f"{path}: language = {announcements.language!r} but the file is for {language!r}.")
    return announcements
