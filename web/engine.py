"""The check engine as the web app uses it: one :class:`consent.check.Checker` per server thread.

The face models are module-level in :mod:`consent.faces`, so they load once per process on the
first check; each waitress thread keeps its own ``Checker`` (its own register connection, since
SQLite connections belong to the thread that opened them). Checks run one at a time per process
(``CHECK_LOCK``): the native face code is not promised to be thread-safe, and on a small school
server two parallel checks would not finish sooner anyway.
"""

from __future__ import annotations

import threading

_local = threading.local()
CHECK_LOCK = threading.Lock()


def get_checker(db_path: str, settings):
    """This thread's Checker for the register at ``db_path`` (built on first use)."""
    checker = getattr(_local, "checker", None)
    if checker is None or getattr(_local, "key", None) != (db_path, id(settings)):
        from consent.check import Checker

        checker = Checker(db_path, settings)
        _local.checker, _local.key = checker, (db_path, id(settings))
    return checker


def run_check(db_path: str, settings, path, **kwargs):
    """``Checker.check(path, **kwargs)`` on this thread's checker, one check at a time."""
    checker = get_checker(db_path, settings)
    with CHECK_LOCK:
        return checker.check(path, **kwargs)


def channel_names(db_path: str, settings) -> list[str]:
    """The register's publication channels, in register order."""
    return get_checker(db_path, settings).view().channels
