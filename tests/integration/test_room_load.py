"""A bounded load on the embedded room over loopback: every message reaches the right peer,
in order (checked inside run_room_bench), and the figures are reported. Speed is the
benchmark's business (`sessionbot bench room`), not asserted here."""

from __future__ import annotations

from bot.bench.room import RoomLoad, run_room_bench


def test_room_relay_under_load_delivers_every_message_in_order() -> None:
    results = run_room_bench(RoomLoad(rooms=8, messages=250, payload_bytes=100, timeout_s=60))
    assert results["relayed"] == 8 * 250
    assert results["connections"] == 16
    assert results["messages_per_s"] > 0
    rss = results["server_rss_mib"]
    assert 0 < rss["before"] <= rss["peak"]
