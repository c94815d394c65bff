"""Markdown tables of configuration keys, read from the pydantic models that validate them.

One table per section: key, type with its limits, default and description, so the page states what
the code accepts, in the code's own words (the models' Field descriptions).
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from bot.docsite.markdown import cell, table

PACKAGE = Path(__file__).resolve().parent.parent  # bot/
_HOME = Path("/home/documented-user")  # shown as ~
_TYPE_NAMES: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", dict: "table",
    AwareDatetime: "date-time with UTC offset",
}
_BOUNDS = ((annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "≤"),
           (annotated_types.Lt, "lt", "<"))


@contextmanager
def documented_environment() -> Iterator[None]:
    """Defaults read from the environment (cache, state) shown as documented (~/.cache/…), not as on
    the machine that generates the page."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("SESSIONBOT_", "XDG_"))]:
        del os.environ[name]
    os.environ["HOME"] = str(_HOME)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return options[0], len(options) < len(get_args(annotation))
    return annotation, False


def type_name(annotation: Any) -> str:
    annotation, _ = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{toml(v)}`" for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        if get_origin(item) is Literal:
            return "list of " + ", ".join(f"`{toml(v)}`" for v in get_args(item))
        return f"list of {type_name(item)}s"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(annotation))
    return _TYPE_NAMES.get(origin or annotation, getattr(annotation, "__name__", str(annotation)))




def limits(info: FieldInfo) -> list[str]:
    found: list[str] = []
    lengths: dict[str, int] = {}
    for item in info.metadata:
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                found.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen):
            lengths["least"] = item.min_length
        if isinstance(item, annotated_types.MaxLen):
            lengths["most"] = item.max_length
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append(f"matching `{pattern}`")
    least, most = lengths.get("least"), lengths.get("most")
    if least is not None and most is not None:
        found.append(f"{least}–{most} characters")
    elif least is not None:
        found.append(f"at least {least} character{'s' * (least != 1)}")
    elif most is not None:
        found.append(f"at most {most} characters")
    return found


def toml(value: Any) -> str:
    """A value as it is written in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        with documented_environment():
            value = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, Path) and value.is_relative_to(_HOME):
        value = Path("~") / value.relative_to(_HOME)
    if isinstance(value, Path) and value.is_relative_to(PACKAGE):
        return f"packaged `bot/{value.relative_to(PACKAGE).as_posix()}`"
    return f"`{toml(value)}`"


def _section_model(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a top-level key holds, and how it is written: a table, an optional one or an array."""
    inner, optional = _unwrap(annotation)
    if get_origin(inner) is list:
        (item,) = get_args(inner)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, "array"
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner, "optional" if optional else "table"
    return None, ""


def section_table(prefix: str, model: type[BaseModel]) -> str:
    rows = []
    for key, info in model.model_fields.items():
        kind = ", ".join([type_name(info.annotation), *limits(info)])
        rows.append([f"`{prefix}.{key}`", cell(kind), default_text(info), cell(info.description or "")])
    return table(["key", "type", "default", "description"], rows)


def settings_tables(root: type[BaseModel], level: int = 3) -> str:
    """Every section of `root` (a TOML file's model), in the order the model declares them."""
    parts: list[str] = []
    loose: list[str] = []
    for name, info in root.model_fields.items():
        model, kind = _section_model(info.annotation)
        if model is None:
            loose.append(name)
            continue
        heading = {"table": f"`[{name}]`", "optional": f"`[{name}]` (optional: absent, it is off)",
                   "array": f"`[[{name}]]` (one table per entry)"}[kind]
        parts.append(f"{'#' * level} {heading}\n\n{section_table(name, model)}")
    if loose:
        rows = [[f"`{n}`", cell(type_name(root.model_fields[n].annotation)), default_text(root.model_fields[n]),
                 cell(root.model_fields[n].description or "")] for n in loose]
        parts.insert(0, f"{'#' * level} Top level\n\n" + table(["key", "type", "default", "description"], rows))
    return "\n\n".join(parts)
