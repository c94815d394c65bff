"""Who is speaking in a Janus room, stably across leaves, rejoins and Janus restarts.

Janus gives a publisher a fresh feed id every time it joins (and after a
restart), and recycles the subscriber's mids, so neither can be an identity.
Policy: a participant is known by display name; the first feed id seen under
that name becomes the participant id (`janus-<feed>`), kept when the same name
comes back. Two people present at once under one name stay two participants
(the second keeps its own feed id).
"""

from __future__ import annotations

from bot.transcribe.segment import Participant

MAX_NAME = 64


class JanusIdentities:
    def __init__(self) -> None:
        self._by_name: dict[str, list[Participant]] = {}
        self._by_feed: dict[int, Participant] = {}

    def for_feed(self, feed: int, display: str) -> Participant:
        known = self._by_feed.get(feed)
        if known is not None:
            return known
        name = display.strip()[:MAX_NAME] or f"participant {feed}"
        in_use = {p.id for p in self._by_feed.values()}
        same_name = self._by_name.setdefault(name, [])
        participant = next((p for p in same_name if p.id not in in_use), None)
        if participant is None:
            participant = Participant(id=f"janus-{feed}", display_name=name)
            same_name.append(participant)
        self._by_feed[feed] = participant
        return participant

    def feed_of(self, feed: int | None) -> Participant | None:
        return self._by_feed.get(feed) if feed is not None else None

    def release(self, feed: int) -> Participant | None:
        """The feed left; returns its participant when no other feed of theirs remains."""
        participant = self._by_feed.pop(feed, None)
        if participant is None or participant in self._by_feed.values():
            return None
        return participant

    def forget_feeds(self) -> None:
        """After a reconnect every feed id is new; names (and so identities) are kept."""
        self._by_feed.clear()
