"""Keep aiortc routing a recycled media line's new SSRC to that line's receiver.

aiortc registers a receiver's SSRCs once, when it starts. An SFU that recycles
a subscriber m-line for another publisher (Janus does, on leave and rejoin)
sends on a new SSRC; aiortc then matches it by payload type alone, which is
ambiguous with two or more audio lines, and drops every packet. After each
renegotiation the SSRCs the SDP announces per mid are registered again.
This touches aiortc's router (a private attribute, aiortc pinned <2); if that
ever changes, the failure is logged, not raised.
"""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from bot.log import get_logger

log = get_logger(__name__)


def register_remote_ssrcs(pc: RTCPeerConnection) -> int:
    """Returns how many SSRCs were (re-)registered."""
    if pc.remoteDescription is None:
        return 0
    by_mid = {t.mid: t for t in pc.getTransceivers() if t.mid is not None}
    registered = 0
    for media in SessionDescription.parse(pc.remoteDescription.sdp).media:
        transceiver = by_mid.get(media.rtp.muxId)
        ssrcs = [s.ssrc for s in media.ssrc]
        if transceiver is None or not ssrcs:
            continue
        try:
            router = transceiver.receiver.transport._rtp_router  # noqa: SLF001 - see module docstring
            router.register_receiver(transceiver.receiver, ssrcs=ssrcs, payload_types=[])
        except AttributeError:
            log.warning("ssrc_routing_unavailable")
            return registered
        registered += len(ssrcs)
    return registered
