from __future__ import annotations

import pytest

from bot.call.rate_limit import TokenBucket


def test_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back at 2 a second
    assert [bucket.allow(), bucket.allow()] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.allow() for _ in range(10)) == 3


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0), (-1, 5)])
def test_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
