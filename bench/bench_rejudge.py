"""Re-judging stored results after one withdrawal: the takedown list over 10,000 publications.

A register of 1,000 pupils with consent for every channel, and 10,000 published photos (group
photos of 2 to 6 recognised pupils, as stored analyses: boxes and person ids, and a caption).
The list is computed once (as the server does for the home page count), one pupil's newsletter
consent is withdrawn, and ``publications.takedowns`` is timed: every publication is judged
against the new register, the view read afresh; a publication whose inputs (the consent, flags
and names of the people in it, the roll, the settings) did not change keeps its judgement, so
only that pupil's photos are judged from scratch. Also timed: the same list in a fresh process
(every stored check parsed from JSON and judged from scratch), before and after.

The peer is what the work would cost without the analyse/judge split: checking the photos
again. One real fixture photo is checked with the analysis cache off, side by side in the same
run, and the figure is given per photo.

``python -m bench rejudge`` runs it. The issue's bar: under 2 s for 10,000.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.timing import best_of, fixtures

N_PEOPLE, N_PUBLISHED = 1000, 10_000
CHANNELS = ["website", "social_media", "newsletter", "press"]
CAPTIONS = ["Sports day 2025", "Year 7 science fair", "Our choir at the town hall", "",
            "Harvest festival collection", "Well done to the chess club"]


def _register(folder: Path):
    from consent.register import Register

    reg = Register(folder / "consent.db", user="bench")
    with reg.transaction():
        for i in range(1, N_PEOPLE + 1):
            p = reg.add_person(f"B{i:05d}", f"Forename{i}", f"Surname{i}", year_group=str(7 + i % 5))
            for channel in CHANNELS:
                reg.record_consent(p.id, channel, "granted")
    return reg


def _stored(rng: random.Random, n: int, people: list[int]):
    from consent.check import Analysis
    from consent.rejudge import StoredCheck
    from consent.results import Face

    who = rng.sample(people, rng.randint(2, 6))
    faces = [Face(index=i, box=(900, 700 + 500 * i, 1200, 400 + 500 * i), height_px=300, identifiable=True,
                  match="matched", person_id=pid, distance=round(rng.uniform(0.2, 0.45), 4))
             for i, pid in enumerate(who)]
    analysis = Analysis(sha256=f"{n:064x}", format="JPEG", width=4000, height=3000, faces=faces,
                        metadata_found=["gps", "camera"])
    return StoredCheck(analysis=analysis, channels=list(CHANNELS), name=f"IMG_{n:05d}.jpg",
                       caption=rng.choice(CAPTIONS))


def _publish_all(reg) -> None:
    from consent.register import publications
    from consent.register.view import load_view

    rng = random.Random(1)
    view = load_view(reg, reg.settings, with_gallery=False)
    people = list(view.people)
    with reg.transaction():
        for n in range(N_PUBLISHED):
            publications.record(reg, _stored(rng, n, people), rng.choice(CHANNELS), by="comms",
                                how="download", view=view)


def _peer_check_one() -> float | None:
    photo = fixtures() / "people" / "test" / "obama_and_biden.jpg"
    if not photo.is_file():
        return None
    from consent.check import Checker

    checker = Checker(None, use_register=False, use_cache=False)
    checker.check(photo)  # load the models once (not timed)
    t, _ = best_of(lambda: checker.check(photo), repeat=3)
    return t


def run() -> None:
    from consent.register import publications

    with tempfile.TemporaryDirectory() as tmp:
        reg = _register(Path(tmp))
        t0 = time.perf_counter()
        _publish_all(reg)
        setup = time.perf_counter() - t0
        victim = reg.find_person("B00042").id
        n_with = reg.db.conn.execute(
            "SELECT count(*) FROM publications WHERE channel = 'newsletter' AND "
            "EXISTS (SELECT 1 FROM json_each(person_ids) WHERE value = ?)", [victim]).fetchone()[0]
        # the server listed them before (the home page count): every one judged from scratch
        publications._judged.clear()
        publications._seen.clear()
        t_first, before = best_of(lambda: publications.takedowns(reg), repeat=1)
        assert before == []
        reg.record_consent(victim, "newsletter", "withdrawn")
        # the moment consent changes: all 10,000 judged against the new register
        t_after, items = best_of(lambda: publications.takedowns(reg), repeat=1)
        assert len(items) == n_with, (len(items), n_with)
        # the same in a process that never listed them (every stored check parsed and judged)
        publications._judged.clear()
        publications._seen.clear()
        t_cold, again = best_of(lambda: publications.takedowns(reg), repeat=1)
        assert len(again) == n_with
        reg.close()
    peer = _peer_check_one()
    print(f"{N_PUBLISHED:,} published photos, {N_PEOPLE:,} pupils (recording them took {setup:.1f} s)")
    print(f"after one newsletter withdrawal, the takedown list ({len(items)} photos of that pupil "
          "on the newsletter):")
    print(f"  all {N_PUBLISHED:,} re-judged after the withdrawal (server had listed before) {t_after:7.3f} s "
          f"{'  under 2 s: yes' if t_after < 2 else '  OVER 2 s'}")
    print(f"  all {N_PUBLISHED:,} judged from scratch, fresh process (before)             {t_first:7.3f} s "
          f"({t_first / N_PUBLISHED * 1e6:.0f} us each)")
    print(f"  all {N_PUBLISHED:,} judged from scratch, fresh process (after)              {t_cold:7.3f} s "
          f"({t_cold / N_PUBLISHED * 1e6:.0f} us each)")
    if peer is None:
        print("  peer (checking a photo again) skipped: fixtures not found")
        return
    print(f"  peer: checking one photo again (models, no cache) {peer:7.3f} s per photo "
          f"-> judging from scratch is {peer / (t_cold / N_PUBLISHED):,.0f}x faster per photo; checking "
          f"{N_PUBLISHED:,} again would take ~{peer * N_PUBLISHED / 3600:.1f} h")
