"""Register benchmarks: matching one photo's faces against a school's gallery, and an MIS import.

1. Matching 50 faces against 2,000 people x 3 templates (synthetic 128-d encodings), beside
   face_recognition's own ``face_distance`` used as its README does: once per face against every
   known encoding, and once per face per person (per-person minimum). Same answers checked.
2. Importing a 2,000-row MIS export (CSV, UTF-8 with BOM, five consent columns) into a new
   register, beside a plain ``csv`` + ``sqlite3.executemany`` load of the same rows with no
   checks, no consent history and no audit (the floor for getting the rows into SQLite).

``python -m bench register`` runs it; figures are ratios from one run on this machine.
"""

from __future__ import annotations

from bench.timing import best_of

import csv
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

N_PEOPLE, PER_PERSON, N_FACES, N_ROWS = 2000, 3, 50, 2000


def synthetic_gallery(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=0.9 / np.sqrt(2 * 128), size=(N_PEOPLE, 128))
    owners = np.repeat(np.arange(1, N_PEOPLE + 1), PER_PERSON)
    vectors = centres[owners - 1] + rng.normal(scale=0.1 / np.sqrt(128), size=(len(owners), 128))
    # faces: 40 enrolled people photographed again, 10 strangers
    who = rng.choice(N_PEOPLE, size=N_FACES - 10, replace=False)
    faces = np.vstack([
        centres[who] + rng.normal(scale=0.1 / np.sqrt(128), size=(len(who), 128)),
        rng.normal(scale=0.9 / np.sqrt(2 * 128), size=(10, 128)),
    ])
    return owners, vectors, faces


def bench_matching() -> None:
    from consent.register.matching import Gallery, match_faces
    from consent.settings import DEFAULTS

    owners, vectors, faces = synthetic_gallery()
    rows = [(int(o), v.tobytes()) for o, v in zip(owners, vectors)]  # as read from the register
    t_build, gallery = best_of(lambda: Gallery.from_rows(rows), repeat=3)
    t_ours, matches = best_of(lambda: match_faces(list(faces), gallery, DEFAULTS), repeat=20)

    import face_recognition  # the peer; loads its models (not timed)

    known = list(vectors)
    by_person = [vectors[owners == pid] for pid in range(1, N_PEOPLE + 1)]

    def readme_all():  # facerec_from_webcam: face_distance(known_face_encodings, face)
        return [int(owners[np.argmin(face_recognition.face_distance(known, f))]) for f in faces]

    def readme_per_person():  # per person, the closest of their encodings
        out = []
        for f in faces:
            d = [face_recognition.face_distance(enc, f).min() for enc in by_person]
            out.append(int(np.argmin(d)) + 1)
        return out

    t_all, best_all = best_of(readme_all, repeat=3)
    t_per, best_per = best_of(readme_per_person, repeat=1)
    best_ours = [int(gallery.person_ids[np.argmin(row)]) for row in gallery.person_distances(faces)]
    assert best_ours == best_all == best_per, "matching disagrees with face_recognition"
    n_matched = sum(m.status == "matched" for m in matches)
    print(f"matching {N_FACES} faces against {N_PEOPLE} people x {PER_PERSON} templates "
          f"({len(vectors)} encodings):")
    print(f"  consent.register.matching.match_faces               {t_ours * 1e3:9.2f} ms"
          f"   ({n_matched} matched, {N_FACES - n_matched} unknown/ambiguous; one assignment)")
    print(f"  Gallery.from_rows (once per register version) {t_build * 1e3:6.2f} ms")
    print(f"  face_recognition.face_distance per face    {t_all * 1e3:9.2f} ms"
          f"   -> ours {t_all / t_ours:6.1f}x faster")
    print(f"  face_recognition.face_distance per person  {t_per * 1e3:9.2f} ms"
          f"   -> ours {t_per / t_ours:6.1f}x faster")
    print("  same closest person for every face as face_recognition: yes")


FIRST = ["Zoë", "Siân", "Oliver", "Amelia", "Noah", "Chloé", "Aoife", "Mohammed", "Isla", "Jack"]
LAST = ["O'Brien", "Jones", "Smith", "Patel", "Nguyen", "Ní Bhriain", "D'Arcy", "Williams",
        "Brown", "Taylor"]
YESNO = ["Yes", "No", "", "Y", "N"]


def write_export(path: Path, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    header = ["UPN", "Legal Surname", "Legal Forename", "Preferred Forename", "Year",
              "Reg Group", "Website", "Social Media", "Newsletter", "Press", "Biometric"]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i in range(N_ROWS):
            year = 7 + i % 7
            w.writerow([f"A{100000000000 + i}", LAST[rng.integers(10)], FIRST[rng.integers(10)],
                        "", f"Year {year}", f"{year}{'ABCD'[i % 4]}",
                        *(YESNO[rng.integers(5)] for _ in range(5))])


def plain_load(csv_path: Path, db_path: Path) -> int:
    """The peer: csv.DictReader + one executemany per table, no checks, history or audit."""
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, upn TEXT UNIQUE, surname TEXT, "
                 "forename TEXT, year TEXT, form TEXT)")
    conn.execute("CREATE TABLE consents (upn TEXT, channel TEXT, status TEXT)")
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with conn:
        conn.executemany(
            "INSERT INTO people (upn, surname, forename, year, form) VALUES (?, ?, ?, ?, ?)",
            [(r["UPN"], r["Legal Surname"], r["Legal Forename"], r["Year"], r["Reg Group"])
             for r in rows])
        conn.executemany(
            "INSERT INTO consents VALUES (?, ?, ?)",
            [(r["UPN"], ch, r[col]) for r in rows
             for col, ch in (("Website", "website"), ("Social Media", "social_media"),
                             ("Newsletter", "newsletter"), ("Press", "press"),
                             ("Biometric", "biometric")) if r[col]])
    n = conn.execute("SELECT count(*) FROM people").fetchone()[0]
    conn.close()
    return n


def bench_import() -> None:
    from consent.register.mis import import_csv
    from consent.register import Register

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export = tmp / "pupils.csv"
        write_export(export)
        runs = iter(range(100))

        def ours():
            with Register(tmp / f"consent{next(runs)}.db", user="bench") as reg:
                return import_csv(reg, export)

        def peer():
            return plain_load(export, tmp / f"plain{next(runs)}.db")

        t_ours, result = best_of(ours, repeat=3)
        t_peer, n_peer = best_of(peer, repeat=3)
        assert result.added == n_peer == N_ROWS, (result.summary(), n_peer)
        with Register(tmp / "consent0.db", user="bench") as reg:
            t_again, again = best_of(lambda: import_csv(reg, export), repeat=3)
            t_dry, _ = best_of(lambda: import_csv(reg, export, dry_run=True), repeat=3)
        assert again.unchanged == N_ROWS
    print(f"importing a {N_ROWS}-row MIS export ({len(result.consent_changes)} consent records):")
    print(f"  consent register import (new register)     {t_ours * 1e3:9.1f} ms"
          f"   ({t_ours / N_ROWS * 1e6:.0f} us/row: checks, history, audit, one transaction)")
    print(f"  csv + sqlite3 executemany, no checks        {t_peer * 1e3:9.1f} ms"
          f"   -> ours {t_ours / t_peer:6.1f}x the time of the bare load")
    print(f"  re-import of the same file (all unchanged) {t_again * 1e3:9.1f} ms"
          f"   ({t_again / t_peer:.1f}x the bare load)")
    print(f"  dry run of the same file                   {t_dry * 1e3:9.1f} ms")


def run() -> None:
    bench_matching()
    bench_import()


if __name__ == "__main__":
    run()
