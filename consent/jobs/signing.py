"""The worker key: what lets the main machine and its analysis workers trust each other's work.

With a Redis queue, photos travel to analysis workers and their analyses come back through a
server that anyone on the network may be able to write to (a Redis server often has no
password). So the work is signed with a key that only the main machine and the workers it was
given to hold (``consent worker-key create`` makes it; docs/operations.md says how to copy it):

1. **One key, no default.** 32 random bytes, hex, in ``<data>/worker.key`` (mode 0600) on the
   main machine, or the file ``CONSENT_WORKER_KEY_FILE`` names. With a Redis queue and no key,
   the web server and every worker refuse to start (:class:`WorkerKeyMissing`), saying how to make it.
2. **Tasks are signed** by the main machine: an HMAC-SHA256 over the photo's id, the SHA-256 of
   its bytes, the suffix, the settings it is to be analysed with and the try. A worker analyses
   nothing whose task is unsigned or wrongly signed, nor bytes that are not the ones signed.
3. **Results are signed** by the worker: an HMAC-SHA256 over the photo's hash, the fingerprint
   of the settings and versions it analysed with, the code version, and the result's canonical
   JSON (:func:`canonical`). The main machine checks it (:func:`verify`, ``hmac.compare_digest``)
   before reading anything else of the result; a result that fails is refused, logged without
   the photo's name, and the photo is analysed on the main machine.
4. **Nothing on the queue is code.** Huey's default serializer is pickle, and unpickling what
   someone wrote to Redis runs their code; on Redis, tasks travel as JSON instead
   (:class:`JsonSerializer`), which carries data only.

Each signature is for one purpose (``"task"``, ``"result"``): a signed task can never pass for a
signed result. A worker holding the key can sign anything: the key is given only to machines
the school controls, and replaced (``consent worker-key create --replace``) when one is lost.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path

from consent.errors import ConsentError

log = logging.getLogger("consent.worker")

#: the environment variable naming the key file (else ``<data>/worker.key``)
KEY_ENV = "CONSENT_WORKER_KEY_FILE"
KEY_FILE = "worker.key"
KEY_BYTES = 32


class WorkerKeyMissing(ConsentError):
    """No usable worker key: missing, unreadable, malformed or readable by other users."""

    code = "worker_key_missing"


def key_path(data: str | os.PathLike | None = None) -> Path:
    """Where the worker key is: ``CONSENT_WORKER_KEY_FILE``, else ``worker.key`` in the data
    folder (``data``, else ``CONSENT_DATA``, else ``./data``)."""
    named = os.environ.get(KEY_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    return Path(data if data is not None else (os.environ.get("CONSENT_DATA") or "data")) / KEY_FILE


_HOW = ("on the main machine run 'consent worker-key create', then copy its data/worker.key to each worker "
        "machine (scp -p, then chmod 600) and set CONSENT_WORKER_KEY_FILE there to the copy's path")


def create_key(path: Path, replace: bool = False) -> bytes:
    """Write a new random key to ``path`` (mode 0600, never readable by others while written);
    refuses to overwrite one unless ``replace``. Returns the key."""
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not replace:
        raise WorkerKeyMissing(f"{path} exists already: its workers use it. To replace it (every worker then "
                               "needs the new copy), run 'consent worker-key create --replace'")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return key


def load_key(path: str | os.PathLike | None = None) -> bytes:
    """The worker key from ``path`` (default :func:`key_path`); raises :class:`WorkerKeyMissing`
    with what to do when there is none, it is not a key, or other users may read it."""
    path = Path(path) if path is not None else key_path()
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        raise WorkerKeyMissing(f"no worker key at {path}: with a Redis queue, the main machine and its workers "
                               f"sign the work they exchange; {_HOW}") from None
    except OSError as exc:
        raise WorkerKeyMissing(f"the worker key {path} cannot be read ({exc.strerror}); {_HOW}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise WorkerKeyMissing(f"the worker key {path} may be read by other users of this machine: "
                               f"run 'chmod 600 {path}' (only its owner may read it)")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise WorkerKeyMissing(f"{path} is not a worker key ({KEY_BYTES * 2} hexadecimal digits); {_HOW}")
    return key


def key_id(key: bytes) -> str:
    """A short name for a key that gives nothing of it away: the same on every machine holding
    the same key (``consent worker-key id``), to tell which machines have the current one."""
    return hmac.new(key, b"consent worker key id", hashlib.sha256).hexdigest()[:12]


def canonical(value) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, ASCII. What a result looks like
    after travelling as JSON is what it looked like when it was signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(key: bytes, purpose: str, **fields) -> str:
    """The HMAC-SHA256 (hex) of ``fields`` for ``purpose`` (``"task"`` or ``"result"``)."""
    return hmac.new(key, canonical({"purpose": purpose, **fields}), hashlib.sha256).hexdigest()


def verify(key: bytes, signature, purpose: str, **fields) -> bool:
    """Whether ``signature`` is :func:`sign`'s for these fields (constant-time comparison);
    False for a missing or malformed signature."""
    if not isinstance(signature, str):
        return False
    try:
        expected = sign(key, purpose, **fields)
    except (TypeError, ValueError):  # fields that are not JSON: nothing signed them
        return False
    return hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace"))


def photo_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the queue's messages as JSON ----------------------------------------------------------------


class JsonSerializer:
    """Huey's messages as JSON (for a Redis queue): a task's name, id, retries, times and
    arguments, and nothing that runs when read. A message that is not one (a pickle, bytes
    someone wrote to Redis) is logged and dropped; the photo it might have named is queued again
    by the minute's recovery. Only tasks with plain JSON arguments can be sent (consent's are)."""

    #: Message fields that hold a nested task (callbacks, chords): consent uses none
    NESTED = ("on_complete", "on_error", "chord_config")

    def serialize(self, data) -> bytes:
        from huey.registry import Message

        if isinstance(data, Message):
            fields = data._asdict()
            if any(fields[name] is not None for name in self.NESTED):
                raise TypeError("consent's queue carries single tasks only (no callbacks or chords)")
            data = {"message": {k: v for k, v in fields.items() if k not in self.NESTED}}
        return json.dumps(data, default=_encode, separators=(",", ":")).encode()

    def deserialize(self, data: bytes):
        from huey.registry import Message

        try:
            value = json.loads(data, object_hook=_decode)
        except (ValueError, UnicodeDecodeError):
            log.warning("a message on the queue that is not consent's (not JSON) was dropped: is something "
                        "else writing to this Redis server? (docs/security.md)")
            raise ValueError("not a consent queue message") from None
        if isinstance(value, dict) and set(value) == {"message"} and isinstance(value["message"], dict):
            fields = value["message"]
            unknown = set(fields) - set(Message._fields)
            if unknown or not isinstance(fields.get("name"), str):
                raise ValueError("not a consent task")
            return Message(**fields)
        return value


def _encode(value):
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"a {type(value).__name__} cannot travel on the queue")


def _decode(obj: dict):
    if set(obj) == {"$datetime"} and isinstance(obj["$datetime"], str):
        return _dt.datetime.fromisoformat(obj["$datetime"])
    return obj
