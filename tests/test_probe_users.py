"""Signing in by a name typed: with stray spaces, in another case or width, with half a UTF-16 pair. In a database an
older zuoxi wrote, holding twins (the later one without a key, migration 0003), the name typed with a stray space
signed in as the twin holding the key, not as the user whose name it is; a name holding half a pair (a command
line's undecodable byte) raised UnicodeEncodeError from the database driver."""

from __future__ import annotations

from sqlalchemy import insert

from zuoxi.store import utc_now
from zuoxi.store.tables import User
from zuoxi.store.users import _hasher, add_user, authenticate, find_account

PASSWORD = "correct-horse"


def test_a_name_with_a_stray_space_is_its_own_users_before_a_twins(store):
    hashed = _hasher.hash(PASSWORD)
    with store.engine.begin() as connection:  # as the upgrade left an older zuoxi's twins: the first holds the key
        for username, key in (("Alice", "alice"), ("alice", None), ("ss", "ss"), ("ß", None)):
            connection.execute(
                insert(User).values(
                    username=username,
                    username_key=key,
                    password_hash=hashed,
                    role="inspector",
                    active=True,
                    created_at=utc_now(),
                )
            )
    for typed, user in {
        "alice": "alice",
        "alice ": "alice",
        " alice\t": "alice",
        "alice\x00": "alice",
        "ALICE": "Alice",
        "ａｌｉｃｅ ": "Alice",
        "ß ": "ß",
        "SS": "ss",
    }.items():
        assert (account := find_account(store.engine, typed)) is not None and account.username == user, typed
        assert (account := authenticate(store.engine, typed, PASSWORD)) is not None and account.username == user


def test_a_name_holding_half_a_utf16_pair_is_no_users(store):
    add_user(store.engine, "admin", PASSWORD, "admin")
    for typed in ("\ud800", "admin\udcff", "\udcffadmin"):
        assert find_account(store.engine, typed) is None
        assert authenticate(store.engine, typed, PASSWORD) is None
    assert authenticate(store.engine, "ＡＤＭＩＮ", PASSWORD) is not None
