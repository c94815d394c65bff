"""Ways to run a scheduled session other than in the scheduler's own process."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class SessionExecutor(Protocol):
    async def run(self, session: Any, lead_s: float, attempt: int, stop: asyncio.Event) -> tuple[str, str]:
        """Run one scheduled session elsewhere; ("done" | "failed" | "running", reason without content)."""
        ...
