"""People and their sign-ins: argon2 password hashes, server-side sessions, and what each role may see.

A session cookie carries a random token; the database keeps only its SHA-256, so a leaked
database does not hand out live sessions. Each session has its own CSRF token for forms.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zuoxi.store import as_utc, utc_now
from zuoxi.store.tables import LoginSession, User

ROLES = ("admin", "inspector", "team_lead", "agent")
SESSION_DAYS = 7
_hasher = PasswordHasher()


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    """A signed-in user as the web layer sees it (no password hash)."""

    id: int
    username: str
    role: str
    team: str | None
    agent_id: str | None
    display_name: str | None

    @property
    def can_review(self) -> bool:
        return self.role in ("admin", "inspector", "team_lead")

    @property
    def can_admin(self) -> bool:
        return self.role == "admin"


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.role, user.team, user.agent_id, user.display_name)


def add_user(engine, username: str, password: str, role: str, team: str | None = None,
             agent_id: str | None = None, display_name: str | None = None) -> Account:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if role == "team_lead" and not team:
        raise UserError("a team lead needs --team")
    if role == "agent" and not agent_id:
        raise UserError("an agent needs --agent-id (the agent_id of their conversations)")
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    with Session(engine) as session, session.begin():
        if session.scalar(select(User).where(User.username == username)):
            raise UserError(f"user {username!r} already exists")
        user = User(username=username, password_hash=_hasher.hash(password), role=role, team=team,
                    agent_id=agent_id, display_name=display_name, active=True, created_at=utc_now())
        session.add(user)
        session.flush()
        return _account(user)


def authenticate(engine, username: str, password: str) -> Account | None:
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
        if user is None:
            _hasher.hash(password)  # same work as a real check, so timing does not reveal usernames
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return _account(user)


def get_account(engine, user_id: int) -> Account | None:
    with Session(engine) as session:
        user = session.get(User, user_id)
        return _account(user) if user and user.active else None


def list_accounts(engine) -> list[Account]:
    with Session(engine) as session:
        return [_account(u) for u in session.scalars(select(User).order_by(User.username))]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(engine, account: Account) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        session.add(LoginSession(token_hash=_token_hash(token), user_id=account.id, csrf_token=csrf,
                                 created_at=utc_now(), expires_at=utc_now() + timedelta(days=SESSION_DAYS)))
    return token, csrf


def session_account(engine, token: str | None) -> tuple[Account, str] | None:
    """(account, CSRF token) of a live session, or None."""
    if not token:
        return None
    with Session(engine) as session:
        row = session.get(LoginSession, _token_hash(token))
        if row is None or as_utc(row.expires_at) < utc_now():
            return None
        user = session.get(User, row.user_id)
        return (_account(user), row.csrf_token) if user and user.active else None


def close_session(engine, token: str | None) -> None:
    if token:
        with Session(engine) as session, session.begin():
            session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
