"""Note templates as data: templates/<name>.<language>.toml, one file per template and language.

A clinician adds a template (GIRP, an intake note, a language) by writing a TOML file,
not code. Each section says in plain words what belongs in it and gives a handful of
short example utterances ("anchors") in the template's language; the structured
generator classifies transcript segments by their similarity to those anchors.
Files are validated strictly (unknown keys are errors, so a typo never silently
drops a section) and every error names the file, the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config import ConfigError
from bot.resources import TEMPLATES_DIR as PACKAGED_TEMPLATES
from bot.resources import listing, lookup, where_to_copy

TEMPLATES_DIR = PACKAGED_TEMPLATES
_REFERENCE = where_to_copy("templates/soap.en.toml")
FALLBACK_LANGUAGE = "en"
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

Role = Literal["clinician", "client"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TemplateSection(_Strict):
    key: str = Field(description="Short identifier, lower case: subjective, plan, …")
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=600, description="What belongs here, in plain words.")
    examples: tuple[str, ...] = Field(
        min_length=3, description="Short utterances that belong here, in the template's language."
    )
    roles: tuple[Role, ...] = Field(
        ("clinician", "client"),
        description="Whose speech may go here; speech of an unknown role is always eligible.",
    )
    client_summary: bool = Field(
        False, description="Statements here feed the client summary (homework, next steps)."
    )
    max_statements: int = Field(15, ge=1, le=200, description="Keep at most this many, the best-matching ones.")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("must be lower case letters, digits and _ (e.g. 'plan')")
        return value

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(e.strip() for e in value)
        if any(not e for e in cleaned):
            raise ValueError("examples must not be empty strings")
        return cleaned


class Template(_Strict):
    name: str
    language: str = Field(min_length=2, max_length=12)
    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    ignore_examples: tuple[str, ...] = Field(
        (), description="Utterances that never belong in a note (greetings, small talk, logistics)."
    )
    sections: tuple[TemplateSection, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("must be lower case letters, digits and _ (e.g. 'soap')")
        return value

    @model_validator(mode="after")
    def _unique_keys(self) -> Template:
        keys = [s.key for s in self.sections]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate section key(s) {', '.join(duplicates)}: each section needs its own key")
        return self


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key. Fix: remove it or check its spelling against {_REFERENCE}."
    if error["type"] == "missing":
        return f"{key}: missing. Fix: add it (see {_REFERENCE})."
    return f"{key}: {error['msg']}. Fix: correct the value (see {_REFERENCE})."


def parse_template(path: Path) -> Template:
    """Read and validate one template file; a problem is a ConfigError naming the file, key and fix."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such template file. Fix: check the name, or copy {_REFERENCE}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}. Fix: correct the syntax at that line "
            "(strings need quotes, each section starts with [[sections]])."
        ) from None
    try:
        template = Template.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{path} is not a valid note template:\n  {problems}") from None
    expected = path.name.removesuffix(".toml")
    if f"{template.name}.{template.language}" != expected:
        raise ConfigError(
            f"{path}: name {template.name!r} and language {template.language!r} do not match the file name. "
            f"Fix: name the file {template.name}.{template.language}.toml or correct 'name'/'language'."
        )
    return template


def available_templates(directory: Path = TEMPLATES_DIR) -> list[str]:
    """Template names that have at least one language file."""
    return sorted({p.name.split(".")[0] for p in listing(directory, "*.*.toml")})


def template_path(name: str, language: str, directory: Path = TEMPLATES_DIR) -> Path:
    """The file for `name` in `language`, else in English (anchors are multilingual, so an English
    template still classifies other languages; only the headings stay English)."""
    for candidate in (language, FALLBACK_LANGUAGE):
        path = lookup(directory, f"{name}.{candidate}.toml")
        if path.is_file():
            return path
    names = ", ".join(available_templates(directory)) or "(none found)"
    tried = f"{directory / f'{name}.{language}.toml'}"
    if language != FALLBACK_LANGUAGE:
        tried += f" (nor {name}.{FALLBACK_LANGUAGE}.toml)"
    raise ConfigError(f"note template {name!r}: no file {tried}. Fix: use one of {names}, or add "
                      f"templates/{name}.{language}.toml to paths.overrides_dir (start from {_REFERENCE}).")


@lru_cache(maxsize=64)
def _cached(path: Path, mtime_ns: int) -> Template:
    return parse_template(path)


def load_template(name: str, language: str, directory: Path = TEMPLATES_DIR) -> Template:
    """Load (cached until the file changes) the template `name` for `language`."""
    path = template_path(name, language, directory)
    return _cached(path, path.stat().st_mtime_ns)
