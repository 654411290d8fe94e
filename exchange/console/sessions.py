"""Server-side sessions: the cookie carries only a random token; who it is, the role, the
CSRF token and the expiry stay here. Restarting the service logs everyone out.

A session ends after `idle_s` without a request, and in any case `lifetime_s` after its
login (12 hours by default): a stolen or forgotten session does not live for ever."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exchange.console.accounts import Account


@dataclass(slots=True)
class Session:
    token: str
    account: Account
    csrf: str
    expires: float
    ends: float = float("inf")
    """The absolute end: login time + the store's lifetime, whatever the activity."""


LIFETIME_S = 12 * 3600.0


class SessionStore:
    def __init__(
        self, idle_s: float, clock: Callable[[], float] = time.monotonic, *, lifetime_s: float = LIFETIME_S
    ):
        self.idle_s = idle_s
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, account: Account) -> Session:
        session = Session(secrets.token_urlsafe(32), account, secrets.token_urlsafe(32), 0.0)
        with self._lock:
            self._expire()
            now = self.clock()
            session.ends = now + self.lifetime_s
            session.expires = min(now + self.idle_s, session.ends)
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for a token, its idle timer restarted; None if unknown or expired."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            now = self.clock()
            if session is None or session.expires <= now:
                self._sessions.pop(token, None)
                return None
            session.expires = min(now + self.idle_s, session.ends)
            return session

    def max_age(self, session: Session) -> int:
        """Seconds the session's cookie should live from now: to its next expiry, at least 0."""
        return max(0, int(session.expires - self.clock()))

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class LoginThrottle:
    """After `limit` failed logins for one user name from one address, refuse that pair for
    `lock_s` (each failure already costs a scrypt hash). Keyed by name and address, so one
    attacker cannot lock an operator out from everywhere."""

    def __init__(self, limit: int = 5, lock_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.lock_s = lock_s
        self.clock = clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def locked(self, name: str, remote: str) -> bool:
        with self._lock:
            count, since = self._failures.get((name, remote), (0, 0.0))
            if count >= self.limit and self.clock() - since < self.lock_s:
                return True
            if count >= self.limit:
                del self._failures[(name, remote)]
            return False

    def failed(self, name: str, remote: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # bounded memory under a spray of names
                self._failures.clear()
            count, _ = self._failures.get((name, remote), (0, 0.0))
            self._failures[(name, remote)] = (count + 1, self.clock())

    def succeeded(self, name: str, remote: str) -> None:
        with self._lock:
            self._failures.pop((name, remote), None)
