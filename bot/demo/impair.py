"""A bad network for the demo's simulated participants: packet loss, jitter and a blackout.

`sessionbot demo --impair loss=5%,jitter=80ms,blackout=3s` rehearses what a client on a poor
connection sends the bot. Where the kernel has `tc netem` a namespace with netem is the better
tool; this one works everywhere (it is simulated in the participants' process, not by the kernel):
every UDP datagram a participant's ICE connection sends (DTLS, SRTP, SCTP) is dropped with
probability `loss`, or held for a delay drawn from a normal distribution (mean and spread
`jitter`, clipped at zero, so packets also arrive out of order), and during a blackout one
participant's datagrams are all dropped while their RTP clock keeps running, as on a real outage.
STUN checks are left alone: the call must connect to be impaired at all. `signalling=drop` also
cuts the bot's signalling socket at the room server mid-call (no close frame, as a network drop
does); the media links must carry on and the bot must take its place in the room back.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass

from aioice.ice import StunProtocol

# The participant whose connection is being set up; protocols created meanwhile belong to them.
OWNER: ContextVar[str | None] = ContextVar("impairment_owner", default=None)

_PART = re.compile(r"^(loss|jitter|blackout)=(\d+(?:\.\d+)?)(%|ms|s)?$")
SIGNALLING_DROP = "signalling=drop"


class ImpairmentError(ValueError):
    pass


@dataclass(frozen=True)
class Impairment:
    loss: float = 0.0
    jitter_s: float = 0.0
    blackout_s: float = 0.0
    drop_signalling: bool = False  # the bot's signalling socket, cut at the room server mid-call
    seed: int = 7

    @property
    def active(self) -> bool:
        return self.loss > 0 or self.jitter_s > 0 or self.blackout_s > 0 or self.drop_signalling

    @property
    def affects_media(self) -> bool:
        return self.loss > 0 or self.jitter_s > 0 or self.blackout_s > 0

    @classmethod
    def parse(cls, text: str) -> Impairment:
        """'loss=5%,jitter=80ms,blackout=3s,signalling=drop' (any subset; an empty text is no impairment)."""
        values: dict[str, float] = {}
        drop_signalling = False
        for part in filter(None, (p.strip() for p in text.split(","))):
            if part == SIGNALLING_DROP:
                drop_signalling = True
                continue
            match = _PART.match(part)
            if not match:
                raise ImpairmentError(f"--impair: cannot read {part!r}. Fix: e.g. "
                                      f"loss=5%,jitter=80ms,blackout=3s,{SIGNALLING_DROP}")
            name, number, unit = match.group(1), float(match.group(2)), match.group(3) or ""
            expected = {"loss": "%", "jitter": "ms", "blackout": "s"}[name]
            if unit != expected:
                raise ImpairmentError(f"--impair: {name} takes {expected}, as in {name}=5{expected}")
            values[name] = number
        loss = values.get("loss", 0.0) / 100.0
        if not 0.0 <= loss < 1.0:
            raise ImpairmentError("--impair: loss must be under 100%")
        return cls(loss=loss, jitter_s=values.get("jitter", 0.0) / 1000.0, blackout_s=values.get("blackout", 0.0),
                   drop_signalling=drop_signalling)

    def describe(self) -> str:
        described = f"loss {self.loss:.0%}, jitter {self.jitter_s * 1000:.0f} ms, blackout {self.blackout_s:g} s"
        return described + (", the bot's signalling socket dropped mid-call" if self.drop_signalling else "")


class ImpairedNetwork:
    """Installed once per process: wraps every StunProtocol's data path with the impairment."""

    def __init__(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self._random = random.Random(impairment.seed)
        self._blackout_until: dict[str, float] = {}
        self.sent = self.dropped = self.delayed = 0

    def install(self) -> None:
        network = self
        original_init = StunProtocol.__init__

        def init(protocol: StunProtocol, *args: object, **kwargs: object) -> None:
            original_init(protocol, *args, **kwargs)
            protocol._impairment_owner = OWNER.get()  # type: ignore[attr-defined]

        async def send_data(protocol: StunProtocol, data: bytes, addr: tuple[str, int]) -> None:
            network.send(protocol, data, addr)

        StunProtocol.__init__ = init  # type: ignore[method-assign]
        StunProtocol.send_data = send_data  # type: ignore[method-assign]

    def black_out(self, owner: str, seconds: float) -> None:
        self._blackout_until[owner] = time.monotonic() + seconds

    def send(self, protocol: StunProtocol, data: bytes, addr: tuple[str, int]) -> None:
        transport = protocol.transport
        if transport is None:
            return
        self.sent += 1
        owner = getattr(protocol, "_impairment_owner", None)
        if owner is not None and time.monotonic() < self._blackout_until.get(owner, 0.0):
            self.dropped += 1
            return
        if self._random.random() < self.impairment.loss:
            self.dropped += 1
            return
        jitter = self.impairment.jitter_s
        delay = max(0.0, self._random.gauss(jitter, jitter)) if jitter > 0 else 0.0
        if delay <= 0:
            transport.sendto(data, addr)
            return
        self.delayed += 1
        asyncio.get_running_loop().call_later(delay, _send_if_open, transport, data, addr)

    def summary(self) -> dict[str, int]:
        return {"datagrams": self.sent, "dropped": self.dropped, "delayed": self.delayed}


def _send_if_open(transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str, int]) -> None:
    if not transport.is_closing():
        transport.sendto(data, addr)
