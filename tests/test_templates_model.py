"""Face templates belong to the face model that made them (issue "Tell children apart").

A register enrolled with dlib's recogniser is migrated (every template named ``dlib``), its
dlib templates are never matched, nobody enrolled is silently lost (re-encoded from the kept
enrolment photos, or listed as needing a new photo), and each person's enrolment strength is
said in plain English. Distances come from ``consent.settings.DEFAULTS``, never written here.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from consent.errors import RegisterError
from consent.images import file_hash
from consent.register import Register
from consent.register.enrolment import enrol, reencode
from consent.register.matching import MATCHED, match_faces
from consent.register.schema import _INITIAL_SQL, _statements, migrations
from consent.register.store import REPLACED_BY_NEW_MODEL
from consent.settings import DEFAULTS
from consent.vision.faces import RECOGNISER

from .conftest import fixture_dir

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def apart(base: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A unit vector ``distance`` (Euclidean) from unit vector ``base``."""
    other = unit(1000 + seed)
    other -= (other @ base) * base
    other /= np.linalg.norm(other)
    cos = 1 - distance ** 2 / 2  # |a - b|^2 = 2 - 2 cos for unit vectors
    return cos * base + np.sqrt(1 - cos ** 2) * other


def old_register(path, people):
    """A register as the schema stood before templates named their model (m001, m002), holding
    ``people``: (mis_id, forename, surname, biometric until or None, [photo sha256, ...]) with one
    dlib template (a made-up encoding) per photo, inserted as that schema's code would. Returns
    {mis_id: (person id, [dlib encodings])}."""
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA foreign_keys = ON")
    db = Database(conn)
    migrations.apply(db, stop_before="m003_templates_model")
    stamp = "2024-09-02T09:00:00+00:00"
    made = {}
    with conn:
        for n, (mis_id, first, last, until, shas) in enumerate(people, 1):
            conn.execute(
                "INSERT INTO people (id, mis_id, legal_forename, legal_surname, year_group, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, '7', ?, ?)",
                [n, mis_id, first, last, stamp, stamp])
            conn.execute(
                "INSERT INTO consents (person_id, channel, status, recorded_on, until, source, "
                "recorded_by, recorded_at) VALUES (?, 'biometric', 'granted', ?, NULL, "
                "'paper form', 'office1', ?)", [n, (TODAY - 400 * DAY).isoformat(), stamp])
            encodings = []
            for k, sha in enumerate(shas):
                vector = unit(100 * n + k) * 0.6  # dlib's encodings are not unit length
                conn.execute(
                    "INSERT INTO templates (person_id, encoding, photo_sha256, enrolled_on, "
                    "quality, created_at) VALUES (?, ?, ?, ?, 0.9, ?)",
                    [n, vector.tobytes(), sha, "2024-09-02", stamp])
                encodings.append(vector)
            if until is not None:  # the grant ran out since
                conn.execute("UPDATE consents SET until = ? WHERE person_id = ?", [until.isoformat(), n])
            made[mis_id] = (n, encodings)
    conn.close()
    return made


def photo(*parts: str):
    return fixture_dir("people", "train", *parts[:-1]) / parts[-1]


# --- the migration, on made-up templates ---------------------------------------------------


@pytest.fixture
def migrated(tmp_path):
    made = old_register(tmp_path / "consent.db", [
        ("A1", "Zoë", "O'Brien", None, ["sha-z1", "sha-z2"]),
        ("A2", "Ben", "Adams", None, ["sha-b1"]),
        ("A3", "Cara", "Lee", TODAY - 10 * DAY, ["sha-c1"]),  # biometric consent expired
    ])
    with Register(tmp_path / "consent.db", user="office1") as reg:
        yield reg, made


def test_migration_names_every_existing_template_dlib_and_keeps_its_id(migrated):
    reg, made = migrated
    assert "m003_templates_model" in reg.schema()
    rows = reg.db.conn.execute("SELECT id, person_id, model, encoding FROM templates ORDER BY id").fetchall()
    assert [r[2] for r in rows] == ["dlib"] * 4
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    zoe_id, zoe_encodings = made["A1"]
    assert [t.model for t in reg.templates(zoe_id)] == ["dlib", "dlib"]
    stored = reg.templates(zoe_id, with_encodings=True)
    assert all(np.array_equal(t.encoding, e) for t, e in zip(stored, zoe_encodings))


def test_migration_makes_the_templates_triggers_again_exactly(migrated):
    reg, _ = migrated
    wanted = {s.split()[2]: s for s in _statements(_INITIAL_SQL) if s.startswith("CREATE TRIGGER")
              and "templates" in s}
    assert set(wanted) == {"templates_need_biometric_consent", "biometric_refusal_deletes_templates"}
    have = dict(reg.db.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)", list(wanted)))
    for name, sql in wanted.items():
        assert " ".join(have[name].split()) == " ".join(sql.rstrip(";").split())


def test_after_the_migration_the_database_still_guards_templates(migrated):
    reg, made = migrated
    newcomer = reg.add_person("A9", "Dev", "Shah")
    with pytest.raises(sqlite3.IntegrityError, match="no granted biometric consent"):
        with reg.db.conn:
            reg.db.conn.execute(
                "INSERT INTO templates (person_id, encoding, photo_sha256, enrolled_on, quality, "
                "created_at, model) VALUES (?, ?, 'x', '2025-01-01', 0.9, 'now', ?)",
                [newcomer.id, unit(1).tobytes(), RECOGNISER])
    ben_id, _ = made["A2"]
    reg.record_consent(ben_id, "biometric", "withdrawn")
    assert reg.templates(ben_id) == []


def test_the_same_kept_photo_is_stored_once_per_model(migrated):
    reg, made = migrated
    zoe_id, _ = made["A1"]
    with reg.transaction():  # as the old model would have, beside its own template of sha-z1
        with pytest.raises(sqlite3.IntegrityError):
            reg.db.conn.execute(
                "INSERT INTO templates (person_id, encoding, photo_sha256, enrolled_on, quality, "
                "created_at, model) VALUES (?, ?, 'sha-z1', '2025-01-01', 0.9, 'now', 'dlib')",
                [zoe_id, unit(2).tobytes()])
    assert reg.add_template(zoe_id, unit(3), "sha-z1", 0.9) is not None
    assert reg.add_template(zoe_id, unit(3), "sha-z1", 0.9) is None


def test_dlib_templates_are_never_in_the_gallery(migrated):
    reg, made = migrated
    assert len(reg.gallery()) == 0 and reg.enrolled_count() == 0
    assert not any(reg.enrolled(pid) for pid, _ in made.values())
    ben_id, _ = made["A2"]
    reg.add_template(ben_id, unit(7), "sha-new", 0.9)
    gallery = reg.gallery()
    assert gallery.person_ids.tolist() == [ben_id] and gallery.template_count == 1
    assert np.allclose(gallery.matrix[0], unit(7))


def test_people_enrolled_only_with_the_old_model_need_a_new_photo(migrated):
    reg, made = migrated
    # Cara's biometric consent has run out: her templates are lapsed, not waiting for a photo
    assert [p.mis_id for p in reg.needs_new_photo()] == ["A2", "A1"]  # Adams, O'Brien
    assert [p.mis_id for p in reg.lapsed_templates()] == ["A3"]


def test_a_new_model_template_replaces_the_old_ones_audited(migrated):
    reg, made = migrated
    zoe_id, _ = made["A1"]
    reg.add_template(zoe_id, unit(11), "sha-z1", 0.9, by="admin1")
    assert [t.model for t in reg.templates(zoe_id)] == [RECOGNISER]
    deleted = [e for e in reg.audit(person=zoe_id) if e.action == "template.delete"]
    assert deleted[-1].after == {"deleted": 2, "reason": REPLACED_BY_NEW_MODEL}
    assert deleted[-1].by == "admin1"
    assert [p.mis_id for p in reg.needs_new_photo()] == ["A2"]


def test_replaced_old_templates_leave_no_copy_on_disk(migrated):
    reg, made = migrated
    zoe_id, zoe_encodings = made["A1"]
    reg.add_template(zoe_id, unit(11), "sha-z1", 0.9)
    files = [reg.path, reg.path.with_name(reg.path.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert all(e.tobytes() not in raw for e in zoe_encodings)
    assert unit(11).tobytes() in raw


def test_an_old_model_template_is_refused_beside_current_ones(migrated):
    reg, made = migrated
    ben_id, _ = made["A2"]
    reg.add_template(ben_id, unit(12), "sha-b1", 0.9)
    with pytest.raises(RegisterError, match="old face model"):
        reg.add_template(ben_id, unit(13), "sha-b9", 0.9, model="dlib")


# --- enrolment strength ---------------------------------------------------------------------


@pytest.fixture
def reg(tmp_path):
    with Register(tmp_path / "consent.db", user="office1") as r:
        yield r


@pytest.fixture
def pupil(reg):
    p = reg.add_person("A100", "Zoë", "O'Brien", year_group="7")
    reg.record_consent(p, "biometric", "granted")
    return p


def test_strength_of_someone_not_enrolled(reg, pupil):
    s = reg.enrolment_strength(pupil.id)
    assert (s.photos, s.label) == (0, "not enrolled")


def test_strength_with_one_photo_asks_for_a_second(reg, pupil):
    reg.add_template(pupil, unit(1), "a", 0.9)
    s = reg.enrolment_strength(pupil.id)
    assert s.photos == 1 and s.agree is None
    assert s.label == "1 photo: add a second (two or three recommended)"


@pytest.mark.parametrize("n", [2, 3])
def test_strength_of_photos_that_agree(reg, pupil, n):
    base = unit(1)
    reg.add_template(pupil, base, "a", 0.9)
    for k in range(1, n):  # each within half the threshold of the first: at most the threshold apart
        reg.add_template(pupil, apart(base, DEFAULTS.match_lookalike_threshold * 0.45, k), f"p{k}", 0.9)
    s = reg.enrolment_strength(pupil.id)
    assert (s.photos, s.agree, s.label) == (n, True, f"{n} photos that agree")
    assert s.agreement == "the photos agree" and s.spread <= DEFAULTS.match_lookalike_threshold


def test_strength_of_photos_that_disagree_says_to_check_them(reg, pupil):
    base = unit(1)
    reg.add_template(pupil, base, "a", 0.9)
    reg.add_template(pupil, apart(base, DEFAULTS.match_lookalike_threshold * 1.5, 2), "b", 0.9)
    s = reg.enrolment_strength(pupil.id)
    assert s.agree is False and s.spread > DEFAULTS.match_lookalike_threshold
    assert s.agreement == "the photos disagree: check they are all of this pupil"
    assert s.label == "2 photos that disagree: check they are all of this pupil"


def test_strength_of_someone_enrolled_with_the_old_model(migrated):
    reg, made = migrated
    s = reg.enrolment_strength(made["A1"][0])
    assert (s.photos, s.old_photos, s.needs_new_photo) == (0, 2, True)
    assert s.label == "needs a new photo (enrolled with the old face model)"
    lapsed = reg.enrolment_strength(made["A3"][0])
    assert lapsed.label == "not in use: biometric consent is not in force"


# --- re-encoding from the kept enrolment photos (real photos, real SFace) ------------------


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A dlib-era register of four pupils and the folder of enrolment photos the school kept:
    Obama's two (one in a sub-folder) and Biden's, plus a photo nobody was enrolled from.
    Rose Leslie's photo was not kept; Alex Lacamoire's biometric consent has expired."""
    folder = tmp_path_factory.mktemp("kept")
    (folder / "2023").mkdir()
    shutil.copy(photo("obama", "obama.jpg"), folder / "A1.jpg")
    shutil.copy(photo("obama", "obama2.jpg"), folder / "2023" / "A1_2.jpg")
    shutil.copy(photo("biden", "biden.jpg"), folder / "biden.jpg")
    shutil.copy(photo("kit_harington", "john1.jpeg"), folder / "someone.jpeg")
    sha = lambda *p: file_hash(photo(*p))  # noqa: E731
    people = [
        ("A1", "Barack", "Obama", None, [sha("obama", "obama.jpg"), sha("obama", "obama2.jpg")]),
        ("A2", "Joe", "Biden", None, [sha("biden", "biden.jpg")]),
        ("A3", "Rose", "Leslie", None, [sha("rose_leslie", "img1.jpg")]),
        ("A4", "Alex", "Lacamoire", TODAY - DAY, [sha("alex_lacamoire", "img1.jpg")]),
    ]
    db = tmp_path_factory.mktemp("register") / "consent.db"
    made = old_register(db, people)
    return db, folder, made


@pytest.fixture(scope="module")
def reencoded(kept, tmp_path_factory):
    """The kept register migrated and re-encoded once (SFace runs for three photos)."""
    db, folder, made = kept
    copy = tmp_path_factory.mktemp("reencoded") / "consent.db"
    shutil.copy(db, copy)
    with Register(copy, user="office1") as reg:
        outcome = reencode(reg, folder, by="admin1")
    return copy, outcome, made


def test_reencode_stores_new_templates_from_kept_photos_and_deletes_the_old(reencoded):
    db, outcome, made = reencoded
    (obama, _), (biden, _) = made["A1"], made["A2"]
    assert (outcome.photos, outcome.unmatched) == (4, 1)
    assert [p.mis_id for p in outcome.reencoded] == ["A2", "A1"]  # Biden, Obama
    with Register(db) as reg:
        assert [t.model for t in reg.templates(obama)] == [RECOGNISER, RECOGNISER]
        assert [t.model for t in reg.templates(biden)] == [RECOGNISER]
        replaced = [e for e in reg.audit(person=obama) if e.action == "template.delete"]
        assert replaced and replaced[0].after["reason"] == REPLACED_BY_NEW_MODEL
        run = reg.audit(action="register.reencode")[-1]
        assert run.by == "admin1" and run.after["people"] == 2 and run.after["unmatched"] == 1


def test_after_reencode_every_enrolled_pupil_is_matchable_or_listed(reencoded):
    db, outcome, made = reencoded
    with Register(db) as reg:
        gallery = reg.gallery()
        listed = {p.id for p in reg.needs_new_photo()}
        matchable = set(gallery.person_ids.tolist())
        consenting = {pid for pid, _ in made.values() if reg.biometric_granted(pid)}
        assert consenting == matchable | listed and not matchable & listed
        assert listed == {made["A3"][0]} == {p.id for p in outcome.still_need}
        # a face from a kept photo matches its own pupil again
        for mis_id, name, file in (("A1", "obama", "obama.jpg"), ("A2", "biden", "biden.jpg")):
            (t,) = [t for t in reg.templates(made[mis_id][0], with_encodings=True)
                    if t.photo_sha256 == file_hash(photo(name, file))]
            (m,) = match_faces([t.encoding], gallery, DEFAULTS)
            assert (m.status, m.person_id) == (MATCHED, made[mis_id][0])


def test_the_gallery_holds_no_dlib_template_after_reencode(reencoded):
    db, _, made = reencoded
    with Register(db) as reg:
        matrix = reg.gallery().matrix
        assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0)  # SFace's are unit length
        for _, encodings in made.values():
            for e in encodings:
                assert not any(np.allclose(row, e) for row in matrix)
        assert reg.db.conn.execute(
            "SELECT count(*) FROM templates WHERE model = 'dlib' AND person_id IN (?, ?)",
            [made["A1"][0], made["A2"][0]]).fetchone()[0] == 0


def test_reencode_cli_says_who_still_needs_a_new_photo_and_exits_1(kept, tmp_path):
    from consent.cli import main

    db, folder, made = kept
    copy = tmp_path / "consent.db"
    shutil.copy(db, copy)
    run = lambda: CliRunner().invoke(main, ["register", "--db", str(copy), "reencode", str(folder)])  # noqa: E731
    result = run()
    assert result.exit_code == 1, result.output
    out = result.output
    assert "4 photos: 3 kept enrolment photos, 1 ignored" in out
    assert f"2 people re-encoded with the new face model ({RECOGNISER})" in out
    assert "1 person still needs a new photo" in out
    assert "  Rose Leslie (A3)" in out
    assert "Alex" not in out  # biometric consent expired: not waiting for a photo
    # enrolling Rose from a new photo clears the list: the command then exits 0
    with Register(copy) as reg:
        (result_rose,) = enrol(reg, "A3", [photo("rose_leslie", "img2.jpg")], force=True)
        assert result_rose.status == "enrolled", result_rose.reason
    again = run()
    assert again.exit_code == 0, again.output
    assert "Nobody needs a new photo." in again.output
    assert "0 people re-encoded" in again.output


def test_reencode_cli_refuses_a_missing_folder_in_one_line(tmp_path):
    from consent.cli import main

    result = CliRunner().invoke(main, ["register", "--db", str(tmp_path / "c.db"), "reencode",
                                       str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_enrolment_guard_compares_current_model_templates_only(kept, tmp_path):
    """A dlib template of another pupil can never make a new photo look like them: the guard
    only sees the new model's templates."""
    db, _, made = kept
    copy = tmp_path / "consent.db"
    shutil.copy(db, copy)
    with Register(copy) as reg:
        (r,) = enrol(reg, "A1", [photo("obama", "obama.jpg")])
        assert r.status == "enrolled", r.reason  # his dlib template of this photo did not count
        assert [t.model for t in reg.templates(made["A1"][0])] == [RECOGNISER]
        (again,) = enrol(reg, "A1", [photo("obama", "obama.jpg")])
        assert again.status == "already_enrolled"
        (biden,) = enrol(reg, "A2", [photo("obama", "obama.jpg")])
        assert biden.status == "refused" and "looks like Barack Obama" in biden.reason


# --- the web pages -----------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path):
    """The web app with Zoë enrolled from one photo of the current model and Ben only with the
    old one, both with biometric consent; and Cara, not enrolled."""
    from .web_helpers import make_app

    app = make_app(tmp_path)
    with Register(app.config["CONSENT_DB"]) as r:
        zoe = r.add_person("A100", "Zoë", "O'Brien", year_group="7")
        ben = r.add_person("A101", "Ben", "Adams", year_group="7")
        cara = r.add_person("A102", "Cara", "Lee", year_group="7")
        for p in (zoe, ben):
            r.record_consent(p, "biometric", "granted")
        r.add_template(zoe, unit(1), "z1", 0.9)
        r.add_template(ben, unit(2) * 0.6, "b1", 0.9, model="dlib")
    return app, zoe, ben, cara


def test_person_page_shows_how_well_they_are_enrolled(web):
    from .web_helpers import client_as

    app, zoe, ben, cara = web
    client = client_as(app, "admin")
    page = lambda p: client.get(f"/register/people/{p.id}").get_data(as_text=True)  # noqa: E731
    assert "1 photo: add a second (two or three recommended)" in page(zoe)
    assert "Needs a new photo (enrolled with the old face model)" in page(ben)
    assert "consent register reencode" in page(ben)
    assert "Not enrolled" in page(cara)
    with Register(app.config["CONSENT_DB"]) as r:
        r.add_template(zoe.id, apart(unit(1), DEFAULTS.match_lookalike_threshold * 1.5, 5), "z2", 0.9)
    assert "2 photos that disagree: check they are all of this pupil" in page(zoe)


def test_register_list_offers_the_people_who_need_a_new_photo(web):
    from .web_helpers import client_as

    app, zoe, ben, cara = web
    client = client_as(app, "admin")
    page = client.get("/register/").get_data(as_text=True)
    section = page.split('id="needs-new-photo"')[1].split("</section>")[0]
    assert "1 person needs a new reference photo" in section
    assert "Ben Adams" in section and "A101" in section and "Zoë" not in section
    only = client.get("/register/?enrolment=needs_new_photo").get_data(as_text=True)
    table = only.split("<tbody>")[1].split("</tbody>")[0]
    assert "Ben Adams" in table and "Zoë O" not in table and "Cara Lee" not in table
    with Register(app.config["CONSENT_DB"]) as r:
        r.add_template(ben.id, unit(3), "b2", 0.9)
    assert 'id="needs-new-photo"' not in client.get("/register/").get_data(as_text=True)


def test_check_page_says_when_everyone_enrolled_needs_a_new_photo(tmp_path):
    from .web_helpers import client_as, make_app

    app = make_app(tmp_path)
    with Register(app.config["CONSENT_DB"]) as r:
        ben = r.add_person("A101", "Ben", "Adams")
        r.record_consent(ben, "biometric", "granted")
        r.add_template(ben, unit(2) * 0.6, "b1", 0.9, model="dlib")
    office = client_as(app, "office").get("/check/").get_data(as_text=True)
    notice = office.split('id="nobody-enrolled"')[1].split("</p>")[0]
    assert "1 person was enrolled with the old model" in notice
    assert "Ask the admin to add new reference photos." in notice
    admin = client_as(app, "admin").get("/batch/").get_data(as_text=True)
    assert "enrolment=needs_new_photo" in admin.split('id="nobody-enrolled"')[1].split("</p>")[0]
