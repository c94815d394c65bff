"""One place that turns a call link into the platform connector that can join it."""

from __future__ import annotations

from bot.call.base import CallConnector, CallJoinError
from bot.config import Settings


def connector_for(link: str, settings: Settings) -> CallConnector:
    """The connector for `link` (embedded-room URL, or janus:// / janus+wss:// for a Janus VideoRoom).

    Raises CallJoinError with a message that names the problem and the fix.
    """
    from bot.call.ice import use_host_addresses
    from bot.call.room import RoomConnector
    from bot.call.room_protocol import RoomUrl

    if settings.ice.host_addresses:
        use_host_addresses(settings.ice.host_addresses)
    if link.startswith("janus"):
        from bot.call.janus import JanusConnector
        from bot.call.janus_protocol import JanusUrl, insecure_janus_link

        try:
            janus_url = JanusUrl.parse(link)
        except ValueError as exc:
            raise CallJoinError(str(exc)) from exc
        problem = None if settings.janus.allow_insecure_websocket else insecure_janus_link(link)
        if problem:
            raise CallJoinError(problem)
        return JanusConnector(janus_url, settings.bot.display_name, settings.janus, stun_servers=settings.ice.stun_servers)
    try:
        url = RoomUrl.parse(link)
    except ValueError as exc:
        raise CallJoinError(str(exc)) from exc
    return RoomConnector(url, settings.bot.display_name, role="bot", stun_servers=settings.ice.stun_servers)
