"""What several server processes share through Redis (`zuoxi serve --workers N --redis URL`), so that a
load balancer may send any request, or a live-assist reconnect, to any of them: live sessions and the
sign-in rate limit. Sign-in sessions need nothing here: they live in the database.

A live session is kept in Redis as its options and the turns it took, already masked (no personal
data reaches Redis). Each process keeps its own copy in memory and, before each message, replays the
turns other processes took since (`sync`): the analysis is deterministic, so the copy answers exactly
as the original did, and a turn costs one Redis round trip, not a reload of the whole state.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any, cast

import redis

from zuoxi.engines.live import LiveSession, LiveSessions
from zuoxi.model import LiveUpdate
from zuoxi.web.security import MAX_FAILURES, WINDOW_SECONDS


def connect(url: str) -> redis.Redis:
    """A client on `url`, checked at once (a server that cannot reach Redis should not start)."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    client.ping()
    return client


class RedisLoginLimiter:
    """`LoginLimiter` shared by every process: sign-in attempts per (address, username) in a sorted set of times."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "zuoxi:",
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
    ):
        self.redis, self.prefix, self.max_failures, self.window = client, prefix, max_failures, window

    def _key(self, address: str, username: str) -> str:
        return self.prefix + "login:" + hashlib.sha256(f"{address}\0{username}".encode()).hexdigest()

    def attempt(self, address: str, username: str) -> bool:
        """Count one attempt; False (and not counted) when the window holds its most already. One MULTI: attempts
        sent at once to any processes are counted one after another."""
        key, now, member = self._key(address, username), time.time(), uuid.uuid4().hex
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now - self.window)
            pipe.zcard(key)
            pipe.zadd(key, {member: now})
            pipe.expire(key, int(self.window) + 1)
            _, earlier, _, _ = pipe.execute()
        if earlier >= self.max_failures:
            self.redis.zrem(key, member)
            return False
        return True

    def succeeded(self, address: str, username: str) -> None:
        self.redis.delete(self._key(address, username))


class TurnConflict(ValueError):
    """Another connection to the same session took a turn at the same moment."""


class SharedLiveSessions:
    """`LiveSessions` whose sessions any process can resume (see the module's docstring)."""

    def __init__(
        self, client: redis.Redis, prefix: str = "zuoxi:", idle_seconds: float = 2 * 3600, per_owner: int = 200
    ):
        self.redis, self.prefix, self.idle, self.per_owner = client, prefix, int(idle_seconds), per_owner
        self.local = LiveSessions(idle_seconds, per_owner)  # this process's copies

    def _key(self, owner: str, session_id: str) -> str:
        return self.prefix + "live:" + hashlib.sha256(f"{owner}\0{session_id}".encode()).hexdigest()

    def open(self, owner: str, session_id: str, **options: Any) -> LiveSession:
        """The running session of that id, wherever it ran, or a new one with `options` (LiveSession's)."""
        key = self._key(owner, session_id)
        if self.redis.set(key + ":meta", json.dumps(options), nx=True, ex=self.idle):
            self._count_in(owner, session_id)
        # Closed or expired elsewhere since the line above: a fresh session, as if it had just begun. (Not `or`: a
        # session of no turns yet is falsy, and the caller's options would replace those it was opened with.)
        synced = self._synced(owner, session_id)
        return synced if synced is not None else LiveSession(session_id, **options)

    def _count_in(self, owner: str, session_id: str) -> None:
        """An owner's sessions beyond `per_owner` end, the longest idle first."""
        mine = self.prefix + "live-owner:" + hashlib.sha256(owner.encode()).hexdigest()
        self.redis.zadd(mine, {session_id: time.time()})
        self.redis.expire(mine, self.idle)
        excess = self.redis.zcard(mine) - self.per_owner
        # redis-py types a reply as every shape the command may have: without decode_responses,
        # ZPOPMIN gives (member, score) pairs of bytes and float
        popped = cast("list[tuple[bytes, float]]", self.redis.zpopmin(mine, excess) if excess > 0 else [])
        for old, _ in popped:
            self.close(owner, old.decode())

    def sync(self, owner: str, session_id: str, session: LiveSession) -> LiveSession:
        """This process's copy with every turn taken anywhere: the missing ones replayed, or the whole
        session when the copy went astray. A session that ended elsewhere (or expired) is marked ended here: it
        takes no more turns and is not stored again (turns refused here were stored with it)."""
        synced = self._synced(owner, session_id)
        if synced is None:
            session.ended = True
            return session
        return synced

    def _synced(self, owner: str, session_id: str) -> LiveSession | None:
        """`sync`'s copy; None when the session ended (or expired) in Redis."""
        key = self._key(owner, session_id)
        meta = self.redis.get(key + ":meta")
        if meta is None:
            return None
        local = self.local.get(owner, session_id)
        taken = self.redis.llen(key + ":turns")
        if local is None or len(local) > taken:
            local = LiveSession(session_id, **json.loads(meta))
            self.local.put(owner, session_id, local)
        if len(local) < taken:
            mask, local.mask = local.mask, False  # the stored turns are masked already
            try:
                for turn in self.redis.lrange(key + ":turns", len(local), -1):
                    local.add_turn(json.loads(turn))
            finally:
                local.mask = mask
        return local

    def add_turn(self, owner: str, session_id: str, session: LiveSession, turn: dict[str, Any]) -> LiveUpdate:
        """Take the turn here and record it for the others, unless another connection recorded one first."""
        key = self._key(owner, session_id) + ":turns"
        index = len(session)
        update = session.add_turn(turn)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.llen(key) != index:
                    raise redis.WatchError
                pipe.multi()
                pipe.rpush(key, json.dumps(session.said(index), ensure_ascii=False))
                pipe.expire(key, self.idle)
                pipe.execute()
            except redis.WatchError:
                self.local.close(
                    owner, session_id
                )  # this copy took a turn that is not the session's: rebuilt on next sync
                raise TurnConflict("另一个连接同时发来了一句，请按 turns 重新发送") from None
        return update

    def touch(self, owner: str, session_id: str) -> None:
        key = self._key(owner, session_id)
        with self.redis.pipeline() as pipe:
            pipe.expire(key + ":meta", self.idle)
            pipe.expire(key + ":turns", self.idle)
            pipe.execute()
        self.local.touch(owner, session_id)

    def close(self, owner: str, session_id: str) -> LiveSession | None:
        key = self._key(owner, session_id)
        self.redis.delete(key + ":meta", key + ":turns")
        return self.local.close(owner, session_id)

    def end(self, owner: str, session_id: str) -> bool:
        """Close the session; whether this call did (another process's connection may have ended it since this one
        synced: only one of them finishes and stores it). The delete of its meta is the claim, atomic in Redis."""
        key = self._key(owner, session_id)
        claimed = bool(self.redis.delete(key + ":meta"))
        self.redis.delete(key + ":turns")
        self.local.close(owner, session_id)
        return claimed

    def __len__(self) -> int:
        return len(self.local)
