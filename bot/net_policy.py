"""When a URL may go over the network unencrypted: only to this machine, unless a setting says otherwise.

Notes, transcripts, the webhook's signed body, a Janus room PIN and API token are all
health information or credentials. Plain http:// and plain websockets are fine to
loopback (a model server or Janus on the same host, a TLS-terminating proxy in front of
the bot) and nowhere else by default. One place decides what "loopback" means, so the
calendar feed, the webhook, the model server and Janus links agree.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (bracketed or not; IPv4-mapped ::ffff:127.x too).

    Names other than `localhost` itself are not trusted, even `*.localhost`: what they
    resolve to is up to the resolver, and a look-up here would be a guess about later.
    """
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def cleartext_problem(
    url: str, *, key: str, flag: str, carries: str, fix: str, cleartext_schemes: tuple[str, ...] = ("http",),
) -> str | None:
    """Why `url` must be refused (naming `key`, what it `carries`, `fix` and the opt-in `flag`), or None.

    None when its scheme is not one of `cleartext_schemes` or its host is loopback. The
    caller decides whether `flag` is set, and raises its own kind of error.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in cleartext_schemes:
        return None
    host = parts.hostname or ""
    if host and is_loopback_host(host):
        return None
    return (f"{key}: {scheme}:// to {host or '(no host)'} would send {carries} unencrypted. "
            f"Fix: {fix}, or set {flag} = true if this network is trusted.")
