"""Structured JSON-lines logging.

Log events carry ids, states, timings and counts only. Nothing that was said
(transcript text) and no audio may ever be passed to a logger: call sites pass
counts such as `chars=len(text)` instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import IO, Any

import structlog

from bot.files import open_private_append


def configure_logging(level: str = "info", file: Path | None = None) -> None:
    stream: IO[str] = open_private_append(file) if file is not None else sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: keep only their warnings,
    # in the same JSON stream (aioice/aiortc info lines include addresses only).
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_StdlibJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class _StdlibJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        payload: dict[str, Any] = {
            "event": "library_log",
            "logger": record.name,
            "level": record.levelname.lower(),
            "message": record.getMessage()[:500],
        }
        return json.dumps(payload)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
