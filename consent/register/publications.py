"""The publication record and the takedown list.

A download is not a publication. A photo is *published* on a channel only when someone says so:
they mark it "published on <channel>" (with an optional link), or they confirm at download that
they are publishing it there. A plain download (a safe or blurred copy, a batch zip) records
only that a *copy left the system* for the channels it was cleared for, once per photo and
channel, so that a withdrawal still reaches it. Either way :func:`record` keeps the evidence a
school needs if the ICO asks: the photo's hash, the channel, who and when, the people in it (ids), the verdict and each
person's consent state at that moment, and the stored check (:class:`consent.rejudge.StoredCheck`:
no names) so the photo can be judged again.

:func:`takedowns` judges every published photo that is not yet taken down against the register
as it is on a given day (default today) and lists those that are no longer ok on their channel:
a withdrawal, refusal, never-publish flag, removal from the register or a consent end date that
has passed puts a photo on the list with nobody doing anything. :func:`mark_taken_down` records
who took it down and when.

The table lives in the register database (schema migration ``m002_publications``); it holds
person ids, never names, so a purge leaves nothing readable in it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field

from ..errors import RegisterError
from ..rejudge import Change, StoredCheck, reason_codes, what_changed
from ..settings import Settings
from .records import iso_date

#: how a copy of a photo left the system (a download is published only when ``published``)
HOW = {"download": "copy downloaded", "batch_zip": "batch zip downloaded", "marked": "marked as published"}


@dataclass
class Publication:
    """One photo published on one channel."""

    id: int
    photo_sha256: str
    photo_name: str
    channel: str
    how: str
    published_by: str
    published_at: str
    verdict: str
    person_ids: list[int]
    #: person id (as text) -> consent state for the channel at that moment
    consent_states: dict[str, dict]
    link: str | None = None
    ref: str | None = None
    taken_down_at: str | None = None
    taken_down_by: str | None = None
    #: someone said it is published on the channel (marked, or confirmed at download); False:
    #: only a copy was downloaded
    published: bool = True

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    @property
    def words(self) -> str:
        """How it went out, as the pages say it: "published (marked as published)", "copy
        downloaded, not marked published"."""
        if self.published:
            return "published" + (" (confirmed at download)" if self.how != "marked" else "")
        return f"{HOW[self.how]}, not marked published"


@dataclass
class Takedown:
    """A photo that went out on a channel (published, or copies downloaded) and is no longer ok
    there: one per photo and channel, whatever number of records it has."""

    #: the record that stands for the photo on the channel: the newest published one, else the
    #: newest copy downloaded
    publication: Publication
    change: Change
    #: ids of the people in the photo whose consent or flag caused it
    person_ids: list[int] = field(default_factory=list)
    #: every open record of the photo on the channel, newest first
    records: list[Publication] = field(default_factory=list)

    @property
    def published(self) -> list[Publication]:
        """The records saying it is published on the channel (marked, or confirmed at download)."""
        return [p for p in self.records or [self.publication] if p.published]

    @property
    def copies(self) -> list[Publication]:
        """The records of copies downloaded without saying they were published."""
        return [p for p in self.records or [self.publication] if not p.published]

    @property
    def words(self) -> str:
        """"published", "copies downloaded, not marked published", or "published; copies downloaded too"."""
        if self.published and self.copies:
            return "published; copies downloaded too"
        if self.published:
            return "published"
        return "copies downloaded, not marked published"

    @property
    def link(self) -> str | None:
        return next((p.link for p in self.published if p.link), None)

    def to_json(self, admin: bool = False) -> dict:
        data = {"publication": self.publication.to_json(), "reason": self.change.because,
                "verdict_now": self.change.now, "person_ids": list(self.person_ids),
                "published": bool(self.published), "copies_downloaded": len(self.copies),
                "records": [p.id for p in self.records or [self.publication]]}
        if admin and self.change.admin_detail:
            data["admin_detail"] = self.change.admin_detail
        return data


class NoSuchPublication(RegisterError):
    code = "no_such_publication"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def record(reg, stored: StoredCheck, channel: str, *, by: str, how: str, link: str | None = None,
           ref: str | None = None, settings: Settings | None = None, view=None,
           published: bool | None = None) -> Publication:
    """Record that the photo of ``stored`` went out on ``channel``; returns the record.

    ``published``: someone said it is published there (default: only when ``how`` is
    ``marked``); otherwise it records a copy downloaded. A copy is recorded once per photo and
    channel: while the photo has an open record on the channel (published or a copy), another
    download adds nothing and that record is returned. Marking it published again adds nothing
    either, except a link where the open one had none.

    The verdict and consent states written are those of the register now (``view``, default a
    fresh one). ``how`` is one of :data:`HOW`; ``ref`` the web check it came from.
    """
    from .view import load_view

    if how not in HOW:
        raise ValueError(f"unknown way of publishing: {how}")
    settings = settings or reg.settings
    published = (how == "marked") if published is None else bool(published)
    channel = reg.channel(channel).name  # UnknownChannel for a name the register does not know
    link = (link or "").strip()[:500] or None
    if link and not link.lower().startswith(("https://", "http://")):
        raise RegisterError(f"{link}: a link to where the photo is published starts with https://")
    already = _open_on(reg, stored.analysis.sha256, channel)
    same = [p for p in already if p.published] if published else already
    if same:
        if link and not any(p.link for p in same):
            with reg.transaction():
                reg.db.conn.execute("UPDATE publications SET link = ? WHERE id = ?", [link, same[0].id])
        return get(reg, same[0].id)
    view = view or load_view(reg, settings, with_gallery=False)
    result = stored.judge(view, settings, channels=[channel])
    verdict = result.verdicts[channel].verdict if channel in result.verdicts else "block"
    ids = [f.person_id for f in result.faces if f.match == "matched"]
    states = {}
    for pid in ids:
        since, until = view.consent_dates.get((pid, channel), (None, None))
        states[str(pid)] = {"status": view.consent.get((pid, channel), "missing"),
                            "since": iso_date(since), "until": iso_date(until),
                            "never_publish": view.people[pid].never_publish}
    basis = StoredCheck(**{**stored.__dict__, "verdicts": {channel: verdict},
                           "codes": {channel: reason_codes(result).get(channel, [])}})
    with reg.transaction():
        cur = reg.db.conn.execute(
            "INSERT INTO publications (photo_sha256, photo_name, channel, how, link, ref, published_by, "
            "published_at, verdict, person_ids, consent_states, stored, published) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [stored.analysis.sha256, stored.name, channel, how, link, ref, by, _now(), verdict,
             json.dumps(ids), json.dumps(states), json.dumps(basis.to_json()), int(published)],
        )
        pub_id = cur.lastrowid
    return get(reg, pub_id)


_COLUMNS = ("id, photo_sha256, photo_name, channel, how, published_by, published_at, verdict, "
            "person_ids, consent_states, link, ref, taken_down_at, taken_down_by, published")


def _publication(row) -> Publication:
    (pid, sha, name, channel, how, by, at, verdict, ids, states, link, ref, down_at, down_by, published) = row
    return Publication(pid, sha, name, channel, how, by, at, verdict, json.loads(ids), json.loads(states),
                       link, ref, down_at, down_by, bool(published))


def _open_on(reg, sha256: str, channel: str) -> list[Publication]:
    """The records of one photo on one channel not yet taken down, newest first."""
    return [_publication(r) for r in reg.db.conn.execute(
        f"SELECT {_COLUMNS} FROM publications WHERE photo_sha256 = ? AND channel = ? "
        "AND taken_down_at IS NULL ORDER BY id DESC", [sha256, channel])]


def get(reg, publication_id: int) -> Publication:
    row = reg.db.conn.execute(f"SELECT {_COLUMNS} FROM publications WHERE id = ?", [publication_id]).fetchone()
    if row is None:
        raise NoSuchPublication(f"there is no publication #{publication_id}; see 'consent register takedowns'")
    return _publication(row)


def publications(reg, *, ref: str | None = None, open_only: bool = False) -> list[Publication]:
    """Publication records, newest first (of one web check with ``ref``; not taken down with
    ``open_only``)."""
    sql, params = f"SELECT {_COLUMNS} FROM publications WHERE 1", []
    if ref is not None:
        sql += " AND ref = ?"
        params.append(ref)
    if open_only:
        sql += " AND taken_down_at IS NULL"
    return [_publication(r) for r in reg.db.conn.execute(sql + " ORDER BY id DESC", params)]


#: (register file, publication id) -> _Judged: each publication's stored check is parsed once
#: per process, and judged again only when something it depends on changed
_judged: dict[tuple[str, int], "_Judged"] = {}


@dataclass
class _Judged:
    #: what the row held when parsed (a restored register with other rows re-parses)
    row_key: tuple
    stored: StoredCheck
    #: the inputs of the last judgement (see _inputs) and the changes it found
    inputs: tuple | None = None
    changes: list[Change] = field(default_factory=list)


@dataclass
class _Seen:
    """What the last takedown list of one register file was judged with, so the next one
    re-judges only publications of people whose register inputs changed."""

    view_key: tuple | None = None
    #: (person id, channel) -> that person's inputs (see _Inputs) at the last list
    people: dict = field(default_factory=dict)
    #: person id -> ids of the publications judged with them
    by_person: dict = field(default_factory=dict)


_seen: dict[str, _Seen] = {}
#: one list at a time per process: the memo above is shared by the web server's threads
_lock = threading.Lock()


def _view_key(view, settings: Settings) -> tuple:
    """What every judgement depends on besides the people in the photo: the channels, the
    settings and every pupil on roll's names (the caption rule looks for them)."""
    roll = tuple((n.person_id, n.first, n.surname, n.preferred, n.preferred_surname, n.role)
                 for n in view.pupils_on_roll)
    return (tuple(view.channels), id(settings), hash(roll))


class _Inputs:
    """Everything a judgement reads from the register about one person for one channel, made
    once per takedown list: if none changed for a photo's people, neither did its judgement
    (a withdrawal changes it only for photos of that person)."""

    def __init__(self, view):
        self.view = view
        self.made: dict[tuple[int, str], tuple] = {}

    def of(self, person_id: int, channel: str) -> tuple:
        key = (person_id, channel)
        made = self.made.get(key)
        if made is None:
            view, p = self.view, self.view.people.get(person_id)
            if p is None:
                made = (person_id,)
            else:
                n = p.names
                made = (person_id, p.never_publish, p.never_publish_reason, p.display_name, p.role,
                        n.first, n.surname, n.preferred, n.preferred_surname,
                        view.consent.get(key), view.consent_dates.get(key))
            self.made[key] = made
        return made


def takedowns(reg, settings: Settings | None = None, *, on: dt.date | None = None, view=None,
              include_done: bool = False) -> list[Takedown]:
    """Photos out on a channel (published, or copies downloaded) and no longer ok there on day
    ``on`` (default today), newest first: one per photo and channel, holding all its records.

    Each is judged again from its stored check against the register on that day, so an end
    date that has passed puts a photo here without anyone acting. ``include_done`` also lists
    those already marked taken down. A publication whose inputs (the consent, flags and names
    of the people in it, the roll, the settings) are the same as at its last judgement in this
    process keeps that judgement: the people's inputs are compared once each, so after one
    withdrawal only the photos of that person are judged from scratch.
    """
    from .view import load_view

    settings = settings or reg.settings
    view = view or load_view(reg, settings, on=on, with_gallery=False)
    with _lock:
        found = _judge_all(reg, settings, view, include_done)
    grouped: dict[tuple[str, str, str | None], Takedown] = {}
    for pub_id, changes in found:
        pub = get(reg, pub_id)
        causes = [p for p in pub.person_ids if _causes(view, p, pub.channel)]
        for change in changes:
            key = (pub.photo_sha256, pub.channel, pub.taken_down_at and pub.id)
            item = grouped.get(key)
            if item is None:
                grouped[key] = Takedown(pub, change, causes, [pub])
                continue
            item.records.append(pub)
            item.person_ids = sorted(set(item.person_ids) | set(causes))
            if pub.published and not item.publication.published:
                item.publication = pub  # a published record stands for the photo before a copy
    return list(grouped.values())


def _judge_all(reg, settings: Settings, view, include_done: bool) -> list[tuple[int, list[Change]]]:
    """(publication id, changes) of every publication no longer ok, newest first."""
    view_key, people = _view_key(view, settings), _Inputs(view)
    # light columns only: reading each stored check's text would cost more than judging it
    sql = "SELECT id, channel, verdict, photo_sha256, published_at FROM publications"
    if not include_done:
        sql += " WHERE taken_down_at IS NULL"
    path, found = str(reg.path), []
    seen = _seen.setdefault(path, _Seen())
    everything = seen.view_key != view_key  # other channels, settings or roll: judge them all
    dirty: set[int] = set()
    if everything:
        seen.people.clear()
        seen.by_person.clear()
    else:
        for (pid, channel), before in list(seen.people.items()):
            now = people.of(pid, channel)
            if now != before:
                dirty |= seen.by_person.get(pid, set())
                seen.people[(pid, channel)] = now
    seen.view_key = view_key
    rows = reg.db.conn.execute(sql + " ORDER BY id DESC").fetchall()
    stale = [r[0] for r in rows if (j := _judged.get((path, r[0]))) is None or j.row_key != tuple(r[3:]) + r[1:3]]
    texts = dict(reg.db.conn.execute("SELECT id, stored FROM publications").fetchall()) if stale else {}
    for pub_id, channel, verdict, sha, at in rows:
        key = (path, pub_id)
        judged = _judged.get(key)
        if judged is None or judged.row_key != (sha, at, channel, verdict):
            judged = _judged[key] = _Judged((sha, at, channel, verdict),
                                            StoredCheck.from_json(json.loads(texts[pub_id])))
        stored = judged.stored
        if not stored.person_ids:
            continue  # nobody recognised: no consent change can make it worse
        if channel not in view.channels:
            found.append((pub_id, [Change(channel, verdict, "block", f"the channel {channel} no longer exists")]))
            continue
        if everything or judged.inputs is None or pub_id in dirty:
            inputs = (view_key, channel, tuple([people.of(pid, channel) for pid in stored.person_ids]))
            if inputs != judged.inputs:
                result = stored.judge(view, settings, channels=[channel])
                judged.changes = what_changed({channel: verdict}, result, view, stored.person_ids, stored.codes)
                judged.inputs = inputs
            for pid in stored.person_ids:
                seen.by_person.setdefault(pid, set()).add(pub_id)
                seen.people[(pid, channel)] = people.of(pid, channel)
        if judged.changes:
            found.append((pub_id, judged.changes))
    return found


def _causes(view, person_id: int, channel: str) -> bool:
    person = view.people.get(person_id)
    return person is None or person.never_publish or view.consent.get((person_id, channel)) != "granted"


def open_count(reg, settings: Settings | None = None) -> int:
    """How many photos (per channel) are waiting to be taken down (today)."""
    return len(takedowns(reg, settings))


def mark_taken_down(reg, publication_id: int, *, by: str) -> Publication:
    """Record that ``by`` took the photo down (now) from the channel of ``publication_id``:
    every open record of that photo on that channel (published and copies downloaded) with it.
    Marking it twice is refused."""
    pub = get(reg, publication_id)
    if pub.taken_down_at:
        raise RegisterError(
            f"publication #{publication_id} ({pub.photo_name} on {pub.channel}) was already marked "
            f"taken down by {pub.taken_down_by} at {pub.taken_down_at}"
        )
    with reg.transaction():
        reg.db.conn.execute(
            "UPDATE publications SET taken_down_at = ?, taken_down_by = ? "
            "WHERE photo_sha256 = ? AND channel = ? AND taken_down_at IS NULL",
            [_now(), by, pub.photo_sha256, pub.channel],
        )
    return get(reg, publication_id)


def for_withdrawal(items: list[Takedown], person_id: int, channel: str) -> list[Takedown]:
    """The takedowns a withdrawal of ``person_id``'s consent for ``channel`` caused."""
    return [t for t in items if t.publication.channel == channel and person_id in t.person_ids]
