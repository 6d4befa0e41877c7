"""Per-token rate limits for the claims API: a token bucket for each token, in memory.

Each token may send `rate` requests a second on average and `burst` at once; beyond that
it is answered 429 with the seconds until one more is allowed (Retry-After). Buckets live
in the console process: a console restarted starts every token with a full bucket, which
is as generous as the limit itself, and no store is needed for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runtime.errors import UserFacingError
from runtime.text import printable

RATE_VARIABLE = "CLAIMS_API_RATE"
DEFAULT_RATE = 20.0
DEFAULT_BURST = 100


class RateSettingError(UserFacingError):
    """CLAIMS_API_RATE cannot be read; the message says how to write it."""


@dataclass(frozen=True)
class RateLimit:
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimit:
        """CLAIMS_API_RATE as `RATE` or `RATE,BURST` (requests a second, requests at once)."""
        raw = env.get(RATE_VARIABLE, "").strip()
        if not raw:
            return cls()
        rate_text, _, burst_text = raw.partition(",")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text.strip() else max(1, math.ceil(rate))
        except (ValueError, OverflowError):
            rate, burst = -1.0, -1
        if not (0 < rate <= 1_000_000 and 1 <= burst <= 1_000_000) or not math.isfinite(rate):
            raise RateSettingError(
                f"{RATE_VARIABLE}={printable(raw)!r} is not a rate; write requests a second "
                "and, after a comma, how many may come at once, for example 20,100"
            )
        return cls(rate, burst)


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """Buckets by token name; `take` spends one request or says how long to wait."""

    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, name: str) -> float:
        """0 when `name` may go ahead now (one request spent), else seconds until it may."""
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(float(self.limit.burst), now)
        elapsed = max(0.0, now - bucket.at)
        bucket.tokens = min(float(self.limit.burst), bucket.tokens + elapsed * self.limit.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.limit.rate


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, never 0: a client told 0 would ask again at once."""
    return str(max(1, math.ceil(seconds)))
