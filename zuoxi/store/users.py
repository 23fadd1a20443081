"""People and their sign-ins: argon2 password hashes, server-side sessions, and what each role may see.

A session cookie carries a random token; the database keeps only its SHA-256, so a leaked
database does not hand out live sessions. Each session has its own CSRF token for forms.

Two names that differ only by case or character width (`username_key`) are one name: the database holds each
user's key under a unique index, so a twin is refused even when two are added at the same moment, and a user signs
in (and the command line finds them) by their name as stored or by any twin of it. The last active admin can be
neither disabled nor demoted, whoever asks (the web app or the command line), so someone can always manage users.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zuoxi.model import SURROGATE, without_nul
from zuoxi.privacy import mask_text
from zuoxi.store import as_utc, masked_label, utc_now
from zuoxi.store.tables import LoginSession, User

ROLES = ("admin", "inspector", "team_lead", "agent")
# The permission table: every web route (`zuoxi.web.security.require_role`) and every domain check
# names one of these groups, so who may do what is decided here and nowhere else.
ANYONE = frozenset(ROLES)
OVERSEERS = frozenset({"admin", "inspector", "team_lead"})  # see others' work: appeals, calibration, rule quality
INSPECTORS = frozenset({"admin", "inspector"})  # see everything; review, calibrate, edit scorecards, curate cases
AGENTS = frozenset({"agent"})  # appeal their own findings
ADMINS = frozenset({"admin"})  # users and the audit log
SESSION_DAYS = 7
_ACTIVE_ADMIN = User.role.in_(sorted(ADMINS)) & User.active.is_(True)
LAST_ADMIN = "不能停用或降级最后一个启用的管理员：请先把另一个用户设为启用的管理员"
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
    active: bool = True


def audited(account: Account) -> dict:
    """What the audit log keeps of a user, whoever changed them (the web app or the command line): no id, no password."""
    return {k: getattr(account, k) for k in ("username", "role", "team", "agent_id", "display_name", "active")}


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.role, user.team, user.agent_id, user.display_name, bool(user.active))


def _checked(role: str, team: str | None, agent_id: str | None, display_name: str | None) -> dict:
    """A user's role, team, agent id and name as stored (labels canonical, personal data masked as conversations'
    teams and agent ids are, so an agent id that is a phone number still matches that agent's conversations), or
    UserError. NUL characters go first, as the store would drop them: a team of NULs is no team."""
    team, agent_id, display_name = (without_nul(value) for value in (team, agent_id, display_name))
    for what, value in (("班组", team), ("坐席工号", agent_id), ("姓名", display_name)):
        if value and (char := hidden_character(value.strip())):
            raise UserError(f"{what}{HIDDEN_REFUSED}（含 U+{ord(char):04X}），请只用看得见的文字")
    team, agent_id = masked_label(team), masked_label(agent_id)
    display_name = mask_text((display_name or "").strip()) or None
    if role not in ROLES:
        raise UserError("角色只能是 admin（管理员）、inspector（质检员）、team_lead（班长）或 agent（坐席）")
    if role == "team_lead" and not team:
        raise UserError("班长需要填写班组（--team）")
    if role == "agent" and not agent_id:
        raise UserError("坐席需要填写坐席工号（--agent-id，即其会话的 agent_id）")
    if any(value and len(value) > 100 for value in (team, agent_id, display_name)):
        raise UserError("班组、坐席工号和姓名最多 100 个字")
    return {"role": role, "team": team, "agent_id": agent_id, "display_name": display_name}


def _password_hash(password: str) -> str:
    if not 8 <= len(password) <= 200:
        raise UserError("密码需要 8–200 个字符")
    return _hasher.hash(password)


# What a username may not hold, as it would make two names that read the same, or one that reads as another:
# controls (C0, DEL, C1: tab and newline too), format characters (bidi marks, overrides and isolates, zero-width
# spaces and joiners, the BOM, the soft hyphen, tags), line and paragraph separators, surrogates, private-use and
# unassigned code points; and the invisible ones of other categories (combining grapheme joiner, Hangul fillers,
# Khmer inherent vowels, Mongolian and other variation selectors). Spaces other than the plain one are refused below.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
USERNAME_MAX = 100
USERNAME_KEY_MAX = 400  # the users.username_key column: a name of 100 characters whose key is longer is refused


def username_key(username: str) -> str:
    """The form usernames are compared in: NFKC and case-folded, so Alice, alice, ALICE and ａｌｉｃｅ are one name —
    one that can be added once (users.username_key is unique) and that signs in as any of them."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


HIDDEN_REFUSED = "不能含控制字符、不可见字符或普通空格以外的空白"


def hidden_character(text: str) -> str | None:
    """The first character of `text` a name may not hold (`_NOT_IN_NAMES`, `_INVISIBLE`, a space other than the plain
    one), or None: usernames, display names, teams and agent ids are read by people and compared by the machine, and
    a bidi override, a zero-width space or an escape sequence in one makes it show as, or differ from, another
    (a team lead of 售后一组 + U+202E would see none of 售后一组's conversations)."""
    for char in text:
        if unicodedata.category(char) in _NOT_IN_NAMES or _INVISIBLE.match(char) or (char.isspace() and char != " "):
            return char
    return None


def without_hidden(text: str) -> str:
    """`text` without the characters `hidden_character` finds but spaces: what a name made of someone else's text
    (an uploaded file's, which becomes its conversations' ids) may keep."""
    return "".join(
        char for char in text if unicodedata.category(char) not in _NOT_IN_NAMES and not _INVISIBLE.match(char)
    )


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def without_controls(text: str) -> str:
    """Free text a person wrote (an appeal's reason, a comment, a note) as it may be stored: line breaks as newlines
    (CR LF and CR, as browsers send them), and no other control character (C0 but tab and newline, DEL, C1): an
    escape sequence or a bell in it would act on the terminal that shows it (`zuoxi` lists, logs)."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def checked_username(username: str) -> str:
    """A new user's name as stored (NULs dropped, as the store drops them, and trimmed), or UserError: 1–100
    characters, no control, format or invisible character, no space but the plain one, and no personal data —
    a phone number, ID card, bank card or e-mail address that `zuoxi.privacy` would mask elsewhere cannot be
    masked here, as the user signs in with it."""
    username = without_nul(username).strip()
    if not 0 < len(username) <= USERNAME_MAX:
        raise UserError(f"用户名需要 1–{USERNAME_MAX} 个字符")
    if char := hidden_character(username):
        raise UserError(f"用户名{HIDDEN_REFUSED}（含 U+{ord(char):04X}），请只用看得见的文字")
    if len(username_key(username)) > USERNAME_KEY_MAX:  # NFKC spells some characters out (ﷺ is 18 letters)
        raise UserError(f"用户名按大小写和全角半角统一后超过 {USERNAME_KEY_MAX} 个字符，请换一个短些的")
    folded = unicodedata.normalize("NFKC", username)
    if mask_text(username) != username or mask_text(folded) != folded:
        raise UserError(
            "用户名不能是或含有手机号、电话号码、身份证号、银行卡号或邮箱地址：用户名用于登录，无法打码保存，请换一个"
        )
    return username


def add_user(
    engine,
    username: str,
    password: str,
    role: str,
    team: str | None = None,
    agent_id: str | None = None,
    display_name: str | None = None,
) -> Account:
    """A new user, or UserError: the name is checked (`checked_username`) and may not equal an existing one but
    for case or character width (`username_key`). The unique indexes on the name and its key decide: a twin added
    at the same moment by another process is refused with the same message."""
    username = checked_username(username)
    fields = _checked(role, team, agent_id, display_name)
    key = username_key(username)
    try:
        with Session(engine) as session, session.begin():
            if refused := _taken(session, username, key):
                raise refused
            user = User(
                username=username,
                username_key=key,
                password_hash=_password_hash(password),
                active=True,
                created_at=utc_now(),
                **fields,
            )
            session.add(user)
            session.flush()
            return _account(user)
    except IntegrityError:  # the twin committed between our look and our insert
        with Session(engine) as session:
            raise _taken(session, username, key) or UserError(f"用户 {username} 已存在") from None


def _taken(session: Session, username: str, key: str) -> UserError | None:
    """Why `username` (whose key is `key`) cannot be added, or None: a user of that name, or of that name but for
    case or width. One indexed look-up, not a scan of every user."""
    names = session.scalars(select(User.username).where(or_(User.username == username, User.username_key == key)))
    existing = sorted(names, key=lambda name: name != username)  # the exact name first
    if not existing:
        return None
    if existing[0] == username:
        return UserError(f"用户 {username} 已存在")
    return UserError(f"用户名 {username} 与已有用户 {existing[0]} 只差大小写或全角半角，请换一个")


def update_user(
    engine, user_id: int, role: str, team: str | None, agent_id: str | None, display_name: str | None, active: bool
) -> tuple[Account, Account]:
    """Set a user's role, team, agent id, name and whether they may sign in; (before, after).
    A disabled user's sessions end at once; the last active admin stays one (UserError)."""
    return _changed(engine, user_id, {**_checked(role, team, agent_id, display_name), "active": active})


def set_password(engine, user_id: int, password: str) -> Account:
    """A new password (an admin's reset); the user's open sessions end."""
    with Session(engine) as session, session.begin():
        user = session.get(User, user_id)
        if user is None:
            raise LookupError(user_id)
        user.password_hash = _password_hash(password)
        session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        return _account(user)


def set_active(engine, user_id: int, active: bool) -> tuple[Account, Account]:
    """Let a user sign in or not, nothing else changed; (before, after). A disabled user's sessions end at once;
    the last active admin cannot be disabled (UserError)."""
    return _changed(engine, user_id, {"active": active})


def _changed(engine, user_id: int, values: dict[str, object]) -> tuple[Account, Account]:
    """Set a user's columns; (before, after), LookupError for no such user. A disabled user's sessions end at once.

    UserError (`LAST_ADMIN`) when it would leave no active admin. The active admins' rows are locked first
    (PostgreSQL; SQLite lets one writer at a time), and the admins are counted after the change, so two admins
    disabling each other at the same moment cannot both succeed."""
    with Session(engine) as session, session.begin():
        session.scalars(select(User.id).where(_ACTIVE_ADMIN).with_for_update()).all()
        user = session.get(User, user_id)
        if user is None:
            raise LookupError(user_id)
        before = _account(user)
        for name, value in values.items():
            setattr(user, name, value)
        session.flush()
        if (
            before.active
            and before.role in ADMINS
            and not (user.active and user.role in ADMINS)
            and not session.scalar(select(func.count()).select_from(User).where(_ACTIVE_ADMIN))
        ):
            raise UserError(LAST_ADMIN)
        if not user.active:
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        return before, _account(user)


def _named(session: Session, username: str) -> User | None:
    """The user of this name exactly as stored, or trimmed as names are stored (in a database that holds twins, an
    older zuoxi's, `alice ` was Alice, the twin holding the key, not alice); else the one whose name it is but for
    case or width (`username_key`). Disabled or not. None for a name holding half of a UTF-16 pair (a command line's
    undecodable byte), which no name holds and the database driver could not send (it raised)."""
    username = without_nul(username)
    if SURROGATE.search(username):
        return None
    for name in dict.fromkeys((username, username.strip())):
        if (user := session.scalar(select(User).where(User.username == name))) is not None:
            return user
    return session.scalar(select(User).where(User.username_key == username_key(username.strip())))


def find_account(engine, username: str) -> Account | None:
    """The user of this name as stored, or of a twin of it (case, width), disabled or not (for the command
    line's administration)."""
    with Session(engine) as session:
        user = _named(session, username)
        return _account(user) if user else None


def authenticate(engine, username: str, password: str) -> Account | None:
    """The active user of this name (as stored, or differing only by case or width) if the password is theirs."""
    with Session(engine) as session:
        user = _named(session, username)
        if user is None or not user.active:
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
        session.add(
            LoginSession(
                token_hash=_token_hash(token),
                user_id=account.id,
                csrf_token=csrf,
                created_at=utc_now(),
                expires_at=utc_now() + timedelta(days=SESSION_DAYS),
            )
        )
    return token, csrf


def session_account(engine, token: str | None) -> tuple[Account, str] | None:
    """(account, CSRF token) of a live session, or None: one query, as every request asks it."""
    if not token:
        return None
    with Session(engine) as session:
        found = session.execute(
            select(LoginSession.expires_at, LoginSession.csrf_token, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == _token_hash(token))
        ).first()
        if found is None or as_utc(found.expires_at) < utc_now() or not found.User.active:
            return None
        return _account(found.User), found.csrf_token


def close_session(engine, token: str | None) -> None:
    if token:
        with Session(engine) as session, session.begin():
            session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
