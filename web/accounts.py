"""Accounts, roles, API tokens, one-time setup links and sign-in throttling.

Plain functions over the web tables (see ``web.tables``). Passwords are hashed by werkzeug
(scrypt); API tokens and setup tokens are random and stored only as SHA-256 hashes, so a copy
of the database does not give anyone a working token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from consent.settings import DEFAULTS, Settings

#: every role, with what it lets a person do (shown on the users page)
ROLES = {
    "office": "check photos one at a time",
    "comms": "run batch jobs and download reports",
    "senior": "sign off photos that need a senior's decision; sees names",
    "admin": "manage the register, users and API tokens; sees names",
}

#: roles allowed to see who is in a photo (everyone else sees only the colour-coded states)
NAME_ROLES = frozenset({"admin", "senior"})

MIN_PASSWORD_LENGTH = 10

#: API tokens start with this, so a leaked one is easy to recognise
TOKEN_PREFIX = "cst_"


class AccountError(ValueError):
    """A user, password or token request that cannot be carried out (message for the admin)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    active: bool

    def has(self, *roles: str) -> bool:
        """True when the user holds any of ``roles`` (admins hold every role's rights)."""
        return "admin" in self.roles or any(r in self.roles for r in roles)

    @property
    def sees_names(self) -> bool:
        return bool(self.roles & NAME_ROLES)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row_to_user(row: dict) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"] or row["username"],
        roles=frozenset(r for r in (row["roles"] or "").split(",") if r),
        active=bool(row["active"]),
    )


def clean_roles(roles) -> str:
    """Roles as stored (sorted, comma-separated); unknown roles raise :class:`AccountError`."""
    roles = {r.strip() for r in roles if r and r.strip()}
    unknown = roles - set(ROLES)
    if unknown:
        raise AccountError(f"unknown role {sorted(unknown)[0]!r}; choose from {', '.join(ROLES)}")
    return ",".join(sorted(roles))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            "(a few unrelated words work well)"
        )


def count_users(db: sqlite_utils.Database) -> int:
    return db["web_users"].count


def create_user(
    db: sqlite_utils.Database, username: str, password: str, roles, display_name: str = ""
) -> User:
    """Create an account; returns it. Raises :class:`AccountError` for a taken name or weak password."""
    username = username.strip().lower()
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccountError("a user name may use letters, digits, dots, dashes and underscores only")
    check_password_strength(password)
    stored_roles = clean_roles(roles)
    if not stored_roles:
        raise AccountError("give the user at least one role")
    if find_user(db, username) is not None:
        raise AccountError(f"the user name {username!r} is taken; choose another")
    db["web_users"].insert(
        {
            "username": username,
            "display_name": display_name.strip() or username,
            "password_hash": generate_password_hash(password),
            "roles": stored_roles,
            "active": 1,
            "created_at": time.time(),
        }
    )
    return find_user(db, username)


def find_user(db: sqlite_utils.Database, username: str) -> User | None:
    rows = list(db["web_users"].rows_where("username = ?", [username.strip().lower()], limit=1))
    return _row_to_user(rows[0]) if rows else None


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    rows = list(db["web_users"].rows_where("id = ?", [user_id], limit=1))
    return _row_to_user(rows[0]) if rows else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_row_to_user(r) for r in db["web_users"].rows_where(order_by="username")]


def set_roles(db: sqlite_utils.Database, user_id: int, roles) -> None:
    stored = clean_roles(roles)
    if not stored:
        raise AccountError("give the user at least one role (or deactivate the account)")
    _keep_an_admin(db, user_id, "admin" in stored.split(","), True)
    db["web_users"].update(user_id, {"roles": stored})


def set_active(db: sqlite_utils.Database, user_id: int, active: bool) -> None:
    _keep_an_admin(db, user_id, None, active)
    db["web_users"].update(user_id, {"active": int(active)})


def _keep_an_admin(db, user_id: int, stays_admin: bool | None, stays_active: bool) -> None:
    """Refuse a change that would leave nobody able to manage users."""
    user = get_user(db, user_id)
    if user is None:
        raise AccountError("no such user")
    still_admin = user.is_admin if stays_admin is None else stays_admin
    if user.is_admin and user.active and not (still_admin and stays_active):
        others = [
            u for u in list_users(db) if u.id != user_id and u.is_admin and u.active
        ]
        if not others:
            raise AccountError("this is the last active admin; make someone else an admin first")


def set_password(db: sqlite_utils.Database, user_id: int, password: str) -> None:
    check_password_strength(password)
    db["web_users"].update(user_id, {"password_hash": generate_password_hash(password)})


def authenticate(db: sqlite_utils.Database, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (same work either way)."""
    rows = list(db["web_users"].rows_where("username = ?", [username.strip().lower()], limit=1))
    if not rows:
        # hash anyway so a missing user takes as long as a wrong password
        check_password_hash(_DUMMY_HASH, password)
        return None
    row = rows[0]
    if not check_password_hash(row["password_hash"], password) or not row["active"]:
        return None
    return _row_to_user(row)


_DUMMY_HASH = generate_password_hash("not a real password, only here to spend time")


# --- sign-in throttling -------------------------------------------------------------------


def throttle_keys(username: str, ip: str) -> tuple[str, str]:
    return f"user:{username.strip().lower()}", f"ip:{ip}"


def is_locked_out(
    db: sqlite_utils.Database, username: str, ip: str, settings: Settings = DEFAULTS
) -> bool:
    """True when the account or the address has failed too often within the lockout window."""
    since = time.time() - settings.login_lockout_minutes * 60
    user_key, ip_key = throttle_keys(username, ip)
    count = lambda key: db.execute(  # noqa: E731
        "select count(*) from web_login_failures where key = ? and at > ?", [key, since]
    ).fetchone()[0]
    return (
        count(user_key) >= settings.login_max_failures
        or count(ip_key) >= settings.login_max_failures_per_ip
    )


def record_failure(db: sqlite_utils.Database, username: str, ip: str, settings: Settings = DEFAULTS):
    now = time.time()
    user_key, ip_key = throttle_keys(username, ip)
    with db.conn:
        db["web_login_failures"].insert_all([{"key": user_key, "at": now}, {"key": ip_key, "at": now}])
        db.execute(
            "delete from web_login_failures where at < ?",
            [now - 2 * settings.login_lockout_minutes * 60],
        )


def clear_failures(db: sqlite_utils.Database, username: str) -> None:
    user_key, _ = throttle_keys(username, "")
    with db.conn:
        db.execute("delete from web_login_failures where key = ?", [user_key])


# --- one-time setup link ------------------------------------------------------------------


def new_setup_token(db: sqlite_utils.Database) -> str:
    """A fresh single-use token for creating the first admin; earlier unused ones stop working."""
    token = secrets.token_urlsafe(32)
    with db.conn:
        db.execute("delete from web_setup_tokens where used_at is null")
        db["web_setup_tokens"].insert({"token_hash": _hash_token(token), "created_at": time.time()})
    return token


def setup_token_valid(db: sqlite_utils.Database, token: str, settings: Settings = DEFAULTS) -> bool:
    if count_users(db):
        return False
    rows = list(db["web_setup_tokens"].rows_where("token_hash = ?", [_hash_token(token)]))
    if not rows or rows[0]["used_at"]:
        return False
    return time.time() - rows[0]["created_at"] < settings.setup_link_hours * 3600


def use_setup_token(
    db: sqlite_utils.Database, token: str, username: str, password: str,
    display_name: str = "", settings: Settings = DEFAULTS,
) -> User:
    """Create the first admin with a valid setup token; the token is spent either way it succeeds."""
    if not setup_token_valid(db, token, settings):
        raise AccountError("this setup link has expired or was already used; restart the server for a new one")
    user = create_user(db, username, password, ["admin"], display_name)
    db["web_setup_tokens"].update(_hash_token(token), {"used_at": time.time()})
    return user


# --- API tokens ---------------------------------------------------------------------------


def create_api_token(db: sqlite_utils.Database, user_id: int, label: str) -> str:
    """A new API token for ``user_id``; the token itself is returned once and never stored."""
    if get_user(db, user_id) is None:
        raise AccountError("no such user")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db["web_api_tokens"].insert(
        {
            "user_id": user_id,
            "label": label.strip() or "API token",
            "token_hash": _hash_token(token),
            "created_at": time.time(),
        }
    )
    return token


def list_api_tokens(db: sqlite_utils.Database) -> list[dict]:
    return list(
        db.query(
            "select t.id, t.label, t.created_at, t.last_used_at, t.revoked_at, u.username "
            "from web_api_tokens t join web_users u on u.id = t.user_id order by t.id desc"
        )
    )


def revoke_api_token(db: sqlite_utils.Database, token_id: int) -> None:
    db["web_api_tokens"].update(token_id, {"revoked_at": time.time()})


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    """The active user owning an unrevoked ``token``, or None."""
    rows = list(
        db["web_api_tokens"].rows_where(
            "token_hash = ? and revoked_at is null", [_hash_token(token)], limit=1
        )
    )
    if not rows:
        return None
    user = get_user(db, rows[0]["user_id"])
    if user is None or not user.active:
        return None
    db["web_api_tokens"].update(rows[0]["id"], {"last_used_at": time.time()})
    return user
