"""Accounts, roles, sign-in sessions, API tokens, one-time setup links and sign-in throttling.

Plain functions over the web tables (made by ``consent.jobs.tables``). Passwords are hashed by werkzeug
(scrypt) and must pass zxcvbn's guessability estimate as well as the length rule. Sign-in
sessions, API tokens, setup tokens and known-browser marks are random and stored only as
SHA-256 hashes, so a copy of the database does not give anyone a working token; a session or a
token ends the moment its row goes (sign-out, password change, account turned off).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field, replace

import sqlite3

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

#: zxcvbn's score (0-4) a password must reach: 3 is "safely unguessable" against online attacks
MIN_PASSWORD_SCORE = 3

#: words that make a password guessable here, whoever the user is
SITE_WORDS = ("consent", "school", "photo", "photos", "admin", "office", "password")

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
    #: the designated safeguarding lead (one or more users; set by an admin, beside the roles):
    #: the only people who see and decide sign-offs of photos holding a never-publish pupil
    safeguarding_lead: bool = False
    #: the sign-in session this user object came from (web pages only; see Flask-Login)
    session_id: str | None = field(default=None, compare=False, repr=False)

    # --- what Flask-Login asks of a user --------------------------------------------------
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str | None:
        """The session token Flask-Login keeps in the cookie: never the user id, so a session
        can be ended on the server."""
        return self.session_id

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
        safeguarding_lead=bool(row.get("safeguarding_lead")),
    )


def clean_roles(roles) -> str:
    """Roles as stored (sorted, comma-separated); unknown roles raise :class:`AccountError`."""
    roles = {r.strip() for r in roles if r and r.strip()}
    unknown = roles - set(ROLES)
    if unknown:
        raise AccountError(f"unknown role {sorted(unknown)[0]!r}; choose from {', '.join(ROLES)}")
    return ",".join(sorted(roles))


def password_words(settings: Settings = DEFAULTS, user_inputs=()) -> list[str]:
    """What makes a password guessable here: the school's name (whole, run together, and each
    word of it), the user's names, and the product's own words."""
    import re

    words = []
    for text in (settings.school_name, *user_inputs):
        parts = [w for w in re.split(r"[\W_]+", re.sub("['\\u2019]", "", (text or "").lower())) if w]
        # every run of neighbouring words, run together: "st marys", "stmarys", "marysprimary"
        words += ["".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)]
    return [w for w in dict.fromkeys((*words, *SITE_WORDS)) if w]


def check_password_strength(password: str, user_inputs=(), settings: Settings = DEFAULTS) -> None:
    """Refuse a short or guessable password, saying why in zxcvbn's words. ``user_inputs``: the
    user name and display name; ``settings.school_name`` and the product's words count too.

    A guesser tries capitals and punctuation as variations of the same password, and zxcvbn
    credits them only inside dictionary words (``Abcdefgh12`` scores 3, ``abcdefgh12`` 1;
    ``St.Marys-2024`` 4, ``stmarys2024`` 1): so the password is judged as typed and as its
    letters and digits in lower case, and the weaker score counts (at least
    ``MIN_PASSWORD_SCORE``). Passphrases of words keep their score either way."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            "(a few unrelated words work well)"
        )
    from zxcvbn import zxcvbn

    words = password_words(settings, user_inputs)
    typed = password[:100]
    plain = "".join(c for c in typed.lower() if c.isalnum())
    verdicts = [zxcvbn(typed, user_inputs=words)] + ([zxcvbn(plain, user_inputs=words)] if plain and plain != typed else [])
    verdict = min(verdicts, key=lambda v: v["score"])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        raise AccountError(f"that password is too easy to guess: {_guessable_because(verdict, plain != typed)}")


def _guessable_because(verdict: dict, normalised: bool) -> str:
    """zxcvbn's feedback in plain words, naming the school's or the user's name when it is used."""
    said = []
    if any(m.get("dictionary_name") == "user_inputs" for m in verdict["sequence"]):
        said.append("it contains the school's name, your name or a word this tool uses.")
    warning = verdict["feedback"]["warning"]
    if warning:
        said.append(warning.rstrip(".") + ".")
    suggestions = [t.rstrip(".") + "." for t in verdict["feedback"]["suggestions"]]
    if normalised and not any("apitali" in t for t in suggestions):
        suggestions.append("Capitals, digits at the end and punctuation do not help very much.")
    text = " ".join(said + suggestions) or "it follows a pattern that is quick to guess."
    return text[0].lower() + text[1:] + " Three or four unrelated words work well"


def count_users(db: sqlite_utils.Database) -> int:
    return db["web_users"].count


def create_user(
    db: sqlite_utils.Database, username: str, password: str, roles, display_name: str = "",
    settings: Settings = DEFAULTS,
) -> User:
    """Create an account; returns it. Raises :class:`AccountError` for a taken name or weak
    password (``settings.school_name`` is one of the words a password must not lean on)."""
    row = _new_user_row(db, username, password, roles, display_name, settings)
    try:
        db["web_users"].insert(row)
    except sqlite3.IntegrityError:
        raise AccountError(f"the user name {row['username']!r} is taken; choose another") from None
    return find_user(db, username)


def _new_user_row(db, username: str, password: str, roles, display_name: str,
                  settings: Settings = DEFAULTS) -> dict:
    """A checked ``web_users`` row for a new account; raises :class:`AccountError`."""
    username = username.strip().lower()
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccountError("a user name may use letters, digits, dots, dashes and underscores only")
    check_password_strength(password, (username, display_name), settings)
    stored_roles = clean_roles(roles)
    if not stored_roles:
        raise AccountError("give the user at least one role")
    if find_user(db, username) is not None:
        raise AccountError(f"the user name {username!r} is taken; choose another")
    return {
        "username": username,
        "display_name": display_name.strip() or username,
        "password_hash": generate_password_hash(password),
        "roles": stored_roles,
        "active": 1,
        "created_at": time.time(),
    }


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


#: roles that can sign photos off, one of which a safeguarding lead needs for the mark to count
SIGN_OFF_ROLES = ("senior", "admin")


def set_safeguarding_lead(db: sqlite_utils.Database, user_id: int, lead: bool) -> User:
    """Mark (or unmark) a user as a designated safeguarding lead; returns the user as now.
    Raises :class:`AccountError` for an unknown user, or when marking someone who cannot sign
    photos off (neither senior nor admin): give them the senior role first."""
    user = get_user(db, user_id)
    if user is None:
        raise AccountError("no such user")
    if lead and not user.has("senior"):
        raise AccountError(f"{user.username} cannot sign photos off; give them the senior role first, "
                           "then mark them as safeguarding lead")
    db["web_users"].update(user_id, {"safeguarding_lead": int(lead)})
    return get_user(db, user_id)


def safeguarding_leads(db: sqlite_utils.Database) -> list[User]:
    """The active users who are designated safeguarding leads and can sign photos off."""
    return [u for u in list_users(db) if u.safeguarding_lead and u.active and u.has("senior")]


def set_active(db: sqlite_utils.Database, user_id: int, active: bool) -> None:
    """Turn an account on or off. Turning it off ends its sessions and revokes its API tokens
    for good: turning it back on does not bring them back."""
    _keep_an_admin(db, user_id, None, active)
    with db.conn:
        db.execute("update web_users set active = ? where id = ?", [int(active), user_id])
        if not active:
            db.execute("delete from web_sessions where user_id = ?", [user_id])
            db.execute(
                "update web_api_tokens set revoked_at = ? where user_id = ? and revoked_at is null",
                [time.time(), user_id],
            )


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


def set_password(db: sqlite_utils.Database, user_id: int, password: str,
                 settings: Settings = DEFAULTS) -> None:
    """Set a new password (checked for strength); every session of the user ends."""
    user = get_user(db, user_id)
    if user is None:
        raise AccountError("no such user")
    check_password_strength(password, (user.username, user.display_name), settings)
    with db.conn:
        db.execute("update web_users set password_hash = ? where id = ?",
                   [generate_password_hash(password), user_id])
        db.execute("delete from web_sessions where user_id = ?", [user_id])


def change_own_password(db: sqlite_utils.Database, user: User, current: str, new: str,
                        settings: Settings = DEFAULTS) -> None:
    """A user changing their own password: the current one must be right and the new one strong
    and different. Every session of the user ends (the caller signs this browser in again)."""
    if authenticate(db, user.username, current) is None:
        raise AccountError("your current password is not right; type it again")
    if new == current:
        raise AccountError("the new password is the same as the current one; choose a new one")
    set_password(db, user.id, new, settings)


# --- sign-in sessions ---------------------------------------------------------------------


def start_session(db: sqlite_utils.Database, user_id: int) -> str:
    """A new server-side session for ``user_id``; returns its token (kept in the cookie only)."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    db["web_sessions"].insert({"id": _hash_token(token), "user_id": user_id, "created_at": now, "seen_at": now})
    return token


def user_for_session(db: sqlite_utils.Database, token: str, max_age_s: float) -> User | None:
    """The active user of a live session, or None (ended, expired, or the account is off)."""
    now = time.time()
    rows = list(db["web_sessions"].rows_where("id = ?", [_hash_token(token)], limit=1))
    if not rows or now - rows[0]["created_at"] > max_age_s:
        return None
    user = get_user(db, rows[0]["user_id"])
    if user is None or not user.active:
        return None
    if now - (rows[0]["seen_at"] or 0) > 300:  # a write every five minutes at most
        db["web_sessions"].update(rows[0]["id"], {"seen_at": now})
    return replace(user, session_id=token)


def end_session(db: sqlite_utils.Database, token: str | None) -> None:
    if token:
        with db.conn:
            db.execute("delete from web_sessions where id = ?", [_hash_token(token)])


def end_sessions(db: sqlite_utils.Database, user_id: int) -> None:
    """Sign the user out everywhere."""
    with db.conn:
        db.execute("delete from web_sessions where user_id = ?", [user_id])


def sweep_sessions(db: sqlite_utils.Database, max_age_s: float) -> None:
    with db.conn:
        db.execute("delete from web_sessions where created_at < ?", [time.time() - max_age_s])


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
#
# Wrong passwords are counted per account and network address (the user name as typed, and the
# address, together): after ``login_max_failures`` within ``login_lockout_minutes`` that
# address waits before trying that account again, ``login_delay_s`` doubling with each further
# failure, at most the window. So someone guessing cannot lock anyone else out: made-up user
# names count against nothing real, a real account is slowed only at the guesser's address, and
# a browser that has signed in to the account before (it carries a "known browser" mark, stored
# hashed) never waits. A known browser that itself gets the password wrong
# ``login_max_failures`` times stops being known (a shared computer someone else is guessing
# on), and waits like any other from then on.


def throttle_key(username: str, ip: str) -> str:
    """The failure counter of one user name (as typed) at one address; hashed, so a password
    typed into the name box by mistake is not kept."""
    return "pair:" + _hash_token(f"{username.strip().lower()}\n{ip}")


def sign_in_wait(
    db: sqlite_utils.Database, username: str, ip: str, settings: Settings = DEFAULTS,
    known_browser: bool = False,
) -> int:
    """Seconds before this browser may try to sign in to ``username`` again (0: go ahead)."""
    if known_browser:
        return 0
    now = time.time()
    window = settings.login_lockout_minutes * 60
    limit = settings.login_max_failures
    count, last = db.execute(
        "select count(*), max(at) from web_login_failures where key = ? and at > ?",
        [throttle_key(username, ip), now - window],
    ).fetchone()
    if count < limit:
        return 0
    delay = min(window, settings.login_delay_s * 2 ** min(count - limit, 20))
    return max(0, int(last + delay - now + 0.999))


def is_locked_out(
    db: sqlite_utils.Database, username: str, ip: str, settings: Settings = DEFAULTS
) -> bool:
    """True when a browser unknown to the account must wait before trying again."""
    return sign_in_wait(db, username, ip, settings) > 0


def record_failure(db: sqlite_utils.Database, username: str, ip: str, settings: Settings = DEFAULTS,
                   browser_mark: str | None = None) -> None:
    """Count a wrong password for ``username`` at ``ip``. From a browser known to the account
    (``browser_mark``) it counts against that browser's mark instead, which is forgotten after
    ``login_max_failures`` of them."""
    now = time.time()
    user = find_user(db, username) if browser_mark else None
    mark_id = _hash_token(f"{user.id}:{browser_mark}") if user else None
    known = bool(mark_id) and db["web_known_browsers"].count_where("id = ?", [mark_id]) > 0
    key = f"browser:{mark_id}" if known else throttle_key(username, ip)
    with db.conn:
        db["web_login_failures"].insert({"key": key, "at": now})
        db.execute("delete from web_login_failures where at < ?", [now - 2 * settings.login_lockout_minutes * 60])
        if known and db.execute("select count(*) from web_login_failures where key = ?",
                                [key]).fetchone()[0] >= settings.login_max_failures:
            db.execute("delete from web_known_browsers where id = ?", [mark_id])
            db.execute("delete from web_login_failures where key = ?", [key])


def clear_failures(db: sqlite_utils.Database, username: str, ip: str = "", browser_mark: str | None = None) -> None:
    """After a right password: forget this browser's failures. A browser known to the account
    clears only its own (a guesser at the same address keeps waiting); an unknown one clears
    the account's failures at ``ip``, which were its own to count."""
    user = find_user(db, username) if browser_mark else None
    mark_id = _hash_token(f"{user.id}:{browser_mark}") if user else None
    if mark_id and db["web_known_browsers"].count_where("id = ?", [mark_id]):
        key = f"browser:{mark_id}"
    else:
        key = throttle_key(username, ip)
    with db.conn:
        db.execute("delete from web_login_failures where key = ?", [key])


def remember_browser(db: sqlite_utils.Database, user_id: int, mark: str | None) -> str:
    """Record that the browser carrying ``mark`` signed in to ``user_id``; returns the mark to
    keep in its cookie (a new one when it had none)."""
    mark = mark or secrets.token_urlsafe(32)
    db["web_known_browsers"].upsert(
        {"id": _hash_token(f"{user_id}:{mark}"), "user_id": user_id, "seen_at": time.time()}, pk="id"
    )
    return mark


def is_known_browser(db: sqlite_utils.Database, username: str, mark: str | None) -> bool:
    """True when the browser carrying ``mark`` has signed in to ``username`` before."""
    user = find_user(db, username) if mark else None
    if user is None:
        return False
    return db["web_known_browsers"].count_where("id = ?", [_hash_token(f"{user.id}:{mark}")]) > 0


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
    """Create the first admin with a valid setup token. Spending the token and creating the
    account are one transaction: of several requests racing with one link, exactly one gets an
    account; a refused name or password leaves the link usable."""
    row = _new_user_row(db, username, password, ["admin"], display_name, settings)
    now = time.time()
    try:
        with db.conn:
            spent = db.execute(
                "update web_setup_tokens set used_at = ? where token_hash = ? and used_at is null "
                "and created_at > ? and not exists (select 1 from web_users)",
                [now, _hash_token(token), now - settings.setup_link_hours * 3600],
            ).rowcount
            if spent != 1:
                raise AccountError("this setup link has expired or was already used; restart the server for a new one")
            db.execute(
                "insert into web_users (username, display_name, password_hash, roles, active, created_at) "
                "values (:username, :display_name, :password_hash, :roles, :active, :created_at)", row,
            )
    except sqlite3.IntegrityError:
        raise AccountError(f"the user name {row['username']!r} is taken; choose another") from None
    return find_user(db, row["username"])


# --- API tokens ---------------------------------------------------------------------------


def create_api_token(db: sqlite_utils.Database, user_id: int, label: str, days: int = 365) -> str:
    """A new API token for ``user_id``, valid for ``days``; the token itself is returned once
    and never stored."""
    user = get_user(db, user_id)
    if user is None:
        raise AccountError("no such user")
    if not user.active:
        raise AccountError(f"{user.username}'s account is turned off; turn it on first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    db["web_api_tokens"].insert(
        {
            "user_id": user_id,
            "label": label.strip() or "API token",
            "token_hash": _hash_token(token),
            "created_at": now,
            "expires_at": now + days * 86400,
        }
    )
    return token


def list_api_tokens(db: sqlite_utils.Database) -> list[dict]:
    return list(
        db.query(
            "select t.id, t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, u.username "
            "from web_api_tokens t join web_users u on u.id = t.user_id order by t.id desc"
        )
    )


def revoke_api_token(db: sqlite_utils.Database, token_id: int) -> None:
    with db.conn:
        found = db.execute(
            "update web_api_tokens set revoked_at = coalesce(revoked_at, ?) where id = ?", [time.time(), token_id]
        ).rowcount
    if not found:
        raise AccountError("there is no such API token; it may have been removed")


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    """The active user owning an unrevoked, unexpired ``token``, or None."""
    rows = list(
        db["web_api_tokens"].rows_where(
            "token_hash = ? and revoked_at is null and expires_at > ?", [_hash_token(token), time.time()], limit=1
        )
    )
    if not rows:
        return None
    user = get_user(db, rows[0]["user_id"])
    if user is None or not user.active:
        return None
    db["web_api_tokens"].update(rows[0]["id"], {"last_used_at": time.time()})
    return user
