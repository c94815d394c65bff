"""Which local addresses ICE gathers host candidates on.

aioice (under aiortc) enumerates every interface except loopback and offers
no hook for it, so a call on 127.0.0.1, or a bot that must use one interface
only, needs its address list replaced. The replacement is process-wide, set
once from configuration (ice.host_addresses); empty keeps aioice's default.
"""

from __future__ import annotations

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_original_get_host_addresses = aioice.ice.get_host_addresses
_configured: list[str] = []


def _configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if not _configured:
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return [a for a in _configured if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def use_host_addresses(addresses: list[str]) -> None:
    _configured[:] = addresses
    aioice.ice.get_host_addresses = _configured_host_addresses


def rtc_configuration(stun_servers: list[str]) -> RTCConfiguration:
    """aiortc falls back to a public STUN server when given none: always pass the list."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in stun_servers])
