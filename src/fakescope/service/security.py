"""API keys and rate limits.

A key is ``fsk_<prefix>_<secret>``: 8 hex characters that name the key in lists and logs, and 256
random bits.  The database keeps the prefix and the sha256 of the whole key, never the key: a
leaked database gives no usable key.  (A slow password hash such as scrypt protects guessable
passwords; a 256-bit random secret cannot be guessed, and sha256 lets every request be checked in
microseconds.)  Keys are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time

__all__ = ["new_key", "hash_key", "parse_key", "keys_equal", "TokenBuckets", "KEY_RE"]

KEY_RE = re.compile(r"^fsk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


def new_key() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = secrets.token_hex(4)
    return f"fsk_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(key: str) -> str | None:
    """The prefix of a well-formed key, None for anything else."""
    m = KEY_RE.match(key or "")
    return m.group(1) if m else None


def keys_equal(stored_hash: str, key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(key))


class TokenBuckets:
    """One token bucket per client (an API key, or an address without auth): ``rate_per_minute``
    tokens a minute, at most ``burst`` saved up.  ``take`` answers (allowed, seconds to wait).

    The buckets live in the server process: with ``--workers N`` each process keeps its own, so a
    key may reach N times the rate (docs/service.md)."""

    def __init__(self, rate_per_minute: float, burst: int, *, clock=time.monotonic, max_clients: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = max(1, int(burst))
        self.clock = clock
        self.max_clients = max_clients
        self._b: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str, cost: float = 1.0) -> tuple[bool, float]:
        if not self.enabled:
            return True, 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._b.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._b[client] = (tokens - cost, now)
                return True, 0.0
            self._b[client] = (tokens, now)
            if len(self._b) > self.max_clients:  # forget the fullest buckets first: they are idle
                for k in sorted(self._b, key=lambda k: -self._b[k][0])[: len(self._b) // 10]:
                    del self._b[k]
            return False, (cost - tokens) / self.rate
