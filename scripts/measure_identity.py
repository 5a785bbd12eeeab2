"""Measure how well the face recognisers tell children apart; the figures behind the matching
settings (``match_threshold``, ``match_margin``, ``match_lookalike_threshold``).

    .venv/bin/python -m scripts.measure_identity [--faces DIR] [--cache FILE]

``--faces`` (or ``$CONSENT_CHILD_FACES``) is the ``Pic`` folder of the Large Age-Gap set's
childhood crops (``<identity>/y/*.png``, 100 x 100; in the public repository
loiswjj/Face_Recognition, ``FaceDetection/FaceDetection/data/Pic``). It is research-use data:
it is referenced here by path, never copied into the repository or its tests. Only the
**development half** is read: identities whose ``md5(folder name)`` hex digest starts with 0-7.
The other half is held out; this script never lists its files.

Every crop goes through the product's own path: :func:`consent.images.load`, the CenterFace
detector and its judgement (a face the tool would not match counts as not checked), then each
recogniser (dlib, as before, and SFace). Crops of the same source photo (same file name but for
its ``_N`` suffix) count once per identity.

What it reports, for each recogniser:

* pairwise: the false-match rate (pairs of two different children closer than the threshold)
  at the thresholds that match 50/70/80/90% of same-child pairs;
* a simulated school of 300 enrolled pupils (random draws, summed): non-enrolled children's
  faces matched to a pupil (the dangerous error), and enrolled pupils' other photos matched
  right, matched as someone else, ambiguous, "looks like" (the review band) and unknown; with
  one and with two reference photos per pupil; and with a year-group restriction (the school's
  300 pupils in 7 year groups, each face compared with one year group only);
* the settings chosen on one half of the identities (a second hash splits the development half
  in two) and what they give on the other half, both ways round.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from consent.register.matching import AMBIGUOUS, LOOKS_LIKE, MATCHED, Gallery, assign  # noqa: E402
from consent.settings import DEFAULTS  # noqa: E402

MODELS = ("dlib", "sface")
#: the issue's goals on non-enrolled children matched and enrolled pupils matched wrong
GOAL_RATE = 0.001
SCHOOL = 300
YEAR_GROUPS = 7
DRAWS = 20


def development(identity: str) -> bool:
    """The half of the set this project may use: md5 of the folder name starts with 0-7."""
    return hashlib.md5(identity.encode()).hexdigest()[0] in "01234567"


def fold(identity: str) -> int:
    """Which of two halves of the development set an identity is in (for choosing settings on
    one and checking them on the other)."""
    return hashlib.sha256(identity.encode()).digest()[0] & 1


def source(name: str) -> str:
    """The source photo a crop was cut from: its file name without the ``_N`` / ``_N_add``."""
    return re.sub(r"_\d+(_add)?$", "", Path(name).stem)


#: two crops whose 48 x 48 grey pixels correlate at least this much are one photo (the same
#: childhood photo is often in several "then and now" pages under other file names): measured,
#: same-child pairs fall in two groups, 205 of 0.8 and more (SFace distance median 0.22) and
#: the rest mostly below 0.6 (median 1.07)
SAME_PHOTO_CORRELATION = 0.8


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    a = np.asarray(Image.open(path).convert("L").resize((48, 48)), dtype=np.float64).ravel()
    a -= a.mean()
    return a / (np.linalg.norm(a) + 1e-9)


def crops(folder: Path) -> dict[str, list[Path]]:
    """Development-half identities -> one crop per source photo: one per file-name source, and
    one of each group of crops whose pixels show they are the same photo (any identity: a photo
    filed under two children is dropped the second time)."""
    named = _named_crops(folder)
    flat = [(i, p) for i, ps in named.items() for p in ps]
    if not flat:
        return {}
    pixels = np.stack([_pixels(p) for _, p in flat])
    corr = pixels @ pixels.T
    out: dict[str, list[Path]] = {}
    kept: list[int] = []
    for k, (ident, path) in enumerate(flat):
        if kept and corr[k, kept].max() >= SAME_PHOTO_CORRELATION:
            continue
        kept.append(k)
        out.setdefault(ident, []).append(path)
    return out


def _named_crops(folder: Path) -> dict[str, list[Path]]:
    out = {}
    for ident in sorted(os.listdir(folder)):
        if not development(ident):
            continue  # held out: never listed
        young = folder / ident / "y"
        if not young.is_dir():
            continue
        seen, kept = set(), []
        for p in sorted(young.glob("*.png")):
            key = source(p.name)
            if key not in seen:
                seen.add(key)
                kept.append(p)
        if kept:
            out[ident] = kept
    return out


def encode_all(sets: dict[str, list[Path]], cache: Path | None) -> dict:
    """{(identity, file): {model: encoding or None}, ...} plus why faces were not checked."""
    from consent import images
    from consent.vision import faces

    done = {}
    if cache and cache.is_file():
        data = np.load(cache, allow_pickle=True)
        done = data["done"].item()
    settings = DEFAULTS
    todo = [(i, p) for i, ps in sets.items() for p in ps if (i, p.name) not in done]
    for n, (ident, path) in enumerate(todo):
        entry = {"why": None}
        try:
            photo = images.load(path, max_side=faces.analysis_side(settings), settings=settings)
            found = faces.detect(photo, settings)
        except Exception as exc:  # an unreadable crop is reported, never fatal
            entry["why"] = f"unreadable: {exc}"
            found = []
        if not found and entry["why"] is None:
            entry["why"] = "no face found"
        if found:
            face = found[0]
            if not face.recognisable:
                entry["why"] = face.why_not
            for model in MODELS:
                copy = faces.DetectedFace(**{**face.__dict__, "encoding": None,
                                             "recognisable": True, "identifiable": True})
                faces.encode(photo, [copy], settings, model=model)
                entry[model] = copy.encoding
        done[(ident, path.name)] = entry
        if n % 100 == 99:
            print(f"  encoded {n + 1}/{len(todo)}", file=sys.stderr)
    if cache and todo:  # written whole, then put in place
        partial = cache.with_name(cache.name + ".partial.npz")
        np.savez(partial, done=np.array(done, dtype=object))
        os.replace(partial, cache)
    return done


def table(done: dict, sets: dict, model: str, checked_only: bool = True):
    """Per identity, the encodings of its checkable crops (unit length)."""
    out = {}
    for ident, paths in sets.items():
        vecs = []
        for p in paths:
            e = done.get((ident, p.name))
            if not e or e.get(model) is None or (checked_only and e["why"]):
                continue
            v = np.asarray(e[model], dtype=np.float64)
            vecs.append(v / np.linalg.norm(v) if model == "sface" else v)
        if vecs:
            out[ident] = vecs
    return out


def pairwise(enc: dict) -> tuple[np.ndarray, np.ndarray]:
    """Distances of same-child pairs and of different-children pairs."""
    owners = np.array([i for i, vs in enumerate(enc.values()) for _ in vs])
    m = np.stack([v for vs in enc.values() for v in vs])
    sq = (m * m).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * m @ m.T, 0))
    iu = np.triu_indices(len(m), 1)
    same = owners[iu[0]] == owners[iu[1]]
    return d[iu][same], d[iu][~same]


def school(enc: dict, refs: int, threshold: float, margin: float, lookalike: float,
           seed: int = 0, draws: int = DRAWS, years: bool = False, mean: bool = True,
           size: int = SCHOOL) -> dict:
    """Simulated schools: counts summed over ``draws`` random draws.

    Each draw enrols ``size`` children (at most all but a hundred, who stay strangers), each
    with up to ``refs`` reference photos (a child with more photos keeps one more back as the
    probe that should match them; one with fewer is enrolled with what there is and never
    probed); every photo of every other child is a non-enrolled probe, matched against the
    whole school. With ``years``, pupils are dealt into ``YEAR_GROUPS`` year groups and each
    probe is compared with one year group (its own, for an enrolled pupil; a random one
    otherwise). ``mean``: a pupil's reference photos are matched as their average (else each
    photo is a template and the closest counts).
    """
    rng = np.random.default_rng(seed)
    ids = list(enc)
    counts = defaultdict(int)
    n_school = min(size, len(ids) - 100)
    counts["school"] = n_school
    for _ in range(draws):
        pupils = list(rng.choice(ids, size=n_school, replace=False))
        year_of = {k: k % YEAR_GROUPS for k in range(n_school)}
        owners, templates, probes = [], [], []
        for k, p in enumerate(pupils):
            order = rng.permutation(len(enc[p]))
            ref = [enc[p][j] for j in order[:refs]]
            if len(enc[p]) > refs:
                probes.append((k, enc[p][order[refs]]))
            if mean:
                t = np.mean(ref, axis=0)
                unit = abs(np.linalg.norm(ref[0]) - 1) < 1e-6  # SFace's; dlib's are not
                templates.append(t / np.linalg.norm(t) if unit else t)
                owners.append(k)
            else:
                templates.extend(ref)
                owners.extend([k] * len(ref))
        enrolled = set(pupils)
        strangers = [(None, v) for i in ids if i not in enrolled for v in enc[i]]
        gallery = Gallery.from_arrays(np.array(owners), np.stack(templates))
        by_year = {y: gallery.restricted([k for k in range(n_school) if year_of[k] == y])
                   for y in range(YEAR_GROUPS)} if years else {}
        for who, vec in probes + strangers:
            if years:
                g = by_year[year_of[who] if who is not None else int(rng.integers(YEAR_GROUPS))]
            else:
                g = gallery
            row = g.person_distances(vec[None, :])
            (m,) = assign(row, g.person_ids, threshold, margin, lookalike)
            kind = "enrolled" if who is not None else "stranger"
            counts[kind] += 1
            if m.status == MATCHED:
                counts[f"{kind} matched right" if m.person_id == who else f"{kind} matched wrong"] += 1
            elif m.status == LOOKS_LIKE:
                counts[f"{kind} looks like"] += 1
                if m.candidates[0] == who:
                    counts[f"{kind} looks like right"] += 1
            elif m.status == AMBIGUOUS:
                counts[f"{kind} ambiguous"] += 1
            else:
                counts[f"{kind} unknown"] += 1
    return dict(counts)


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.2f}% ({n}/{d})" if d else "-"


def report_school(c: dict, label: str) -> None:
    e, s = c.get("enrolled", 0), c.get("stranger", 0)
    print(f"    {label}: school of {c['school']}, {DRAWS} draws")
    print(f"      non-enrolled matched {pct(c.get('stranger matched wrong', 0), s)}; "
          f"'looks like' {pct(c.get('stranger looks like', 0), s)}")
    print(f"      enrolled: right {pct(c.get('enrolled matched right', 0), e)}, "
          f"wrong {pct(c.get('enrolled matched wrong', 0), e)}, "
          f"looks like {pct(c.get('enrolled looks like', 0), e)} "
          f"(of them the right pupil {c.get('enrolled looks like right', 0)}), "
          f"ambiguous {pct(c.get('enrolled ambiguous', 0), e)}, "
          f"unknown {pct(c.get('enrolled unknown', 0), e)}")


def choose(enc: dict, margin: float, refs: int = 2) -> float:
    """The largest threshold (step 0.02) below which non-enrolled children matched stay at
    most half the goal rate in a simulated school of 150 (half the children): a rule chosen
    with room to spare."""
    best = 0.7
    for t in np.arange(0.7, 1.2, 0.02):
        c = school(enc, refs, float(t), margin, float(t), draws=10, seed=1, size=150)
        if c.get("stranger matched wrong", 0) / max(1, c["stranger"]) > GOAL_RATE / 2:
            break
        best = float(t)
    return round(best, 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", default=os.environ.get("CONSENT_CHILD_FACES"),
                    help="the Pic folder of the Large Age-Gap child crops")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep the encodings in this .npz between runs (outside the repository)")
    ap.add_argument("--same-photo-by-name-only", action="store_true",
                    help="count crops of one photo under other file names again (as figures "
                         "measured before this script did)")
    args = ap.parse_args(argv)
    if not args.faces or not Path(args.faces).is_dir():
        print("measure-identity: no children's faces to measure on. Set CONSENT_CHILD_FACES (or "
              "--faces) to the Pic folder of the Large Age-Gap set's child crops (public "
              "repository loiswjj/Face_Recognition, FaceDetection/FaceDetection/data/Pic); only "
              "its development half is read.")
        return 0
    folder = Path(args.faces)
    sets = _named_crops(folder) if args.same_photo_by_name_only else crops(folder)
    n_crops = sum(len(v) for v in sets.values())
    print(f"development half: {len(sets)} children, {n_crops} photos (one per source photo"
          f"{', by file name only' if args.same_photo_by_name_only else ''})")
    done = encode_all(sets, args.cache)
    why = defaultdict(int)
    for ident, paths in sets.items():
        for p in paths:
            e = done[(ident, p.name)]
            why[(e["why"] or "checked").split(" (")[0]] += 1
    print("faces: " + ", ".join(f"{k} {v}" for k, v in sorted(why.items(), key=lambda kv: -kv[1])))
    s = DEFAULTS
    for model in MODELS:
        enc = table(done, sets, model)
        same, diff = pairwise(enc)
        print(f"\n== {model}: {len(enc)} children, {sum(map(len, enc.values()))} checked photos, "
              f"{len(same)} same-child pairs, {len(diff)} pairs of two children")
        for tmr in (0.5, 0.7, 0.8, 0.9):
            t = float(np.quantile(same, tmr))
            print(f"  true-match rate {tmr:.1f}: threshold {t:.3f}, false-match rate "
                  f"{pct(int((diff <= t).sum()), len(diff))}")
        if model == "dlib":
            rules = [("dlib as before: threshold 0.5, margin 0.06", 0.5, 0.06, 0.5),
                     ("dlib, threshold 0.5, margin 0.10", 0.5, 0.10, 0.5)]
        else:
            print(f"  closest two children: {', '.join(f'{d:.3f}' for d in np.sort(diff)[:3])}")
            rules = [(f"sface as shipped: threshold {s.match_threshold}, margin {s.match_margin}, "
                      f"looks like to {s.match_lookalike_threshold}",
                      s.match_threshold, s.match_margin, s.match_lookalike_threshold)]
        for label, t, m, la in rules:
            print(f"  {label}")
            for refs in (1, 2):
                report_school(school(enc, refs, t, m, la), f"{refs} reference photo(s)")
            report_school(school(enc, 2, t, m, la, years=True),
                          f"2 reference photos, compared with one year group of {YEAR_GROUPS}")
            if model == "sface":
                report_school(school(enc, 2, t, m, la, mean=False),
                              "2 reference photos, the closer one counts (not their average)")
        if model != "sface":
            continue
        print(f"  held out within the development half: threshold chosen on one half of the "
              f"children (margin {s.match_margin}), applied to the other")
        halves = [{i: v for i, v in enc.items() if fold(i) == k} for k in (0, 1)]
        for k in (0, 1):
            t = choose(halves[k], s.match_margin)
            print(f"   chosen on half {k}: {t:.2f}")
            report_school(school(halves[1 - k], 2, t, s.match_margin, t, size=150),
                          f"applied to half {1 - k}")
        print("  the shipped margin and band over nearby thresholds (2 reference photos):")
        for t in np.round(np.arange(s.match_threshold - 0.06, s.match_threshold + 0.121, 0.03), 3):
            c = school(enc, 2, float(t), s.match_margin, max(float(t), s.match_lookalike_threshold))
            print(f"    threshold {t:.2f}: non-enrolled matched "
                  f"{pct(c.get('stranger matched wrong', 0), c['stranger'])}, enrolled right "
                  f"{pct(c.get('enrolled matched right', 0), c['enrolled'])}, wrong "
                  f"{pct(c.get('enrolled matched wrong', 0), c['enrolled'])}")
        print("  the look-alike band's upper end (threshold as shipped, 2 reference photos):")
        for la in (0.85, 0.9, 0.95, 1.0):
            c = school(enc, 2, s.match_threshold, s.match_margin, la)
            print(f"    to {la:.2f}: strangers' faces in the band "
                  f"{pct(c.get('stranger looks like', 0), c['stranger'])}; pupils' own photos in "
                  f"the band {pct(c.get('enrolled looks like', 0), c['enrolled'])}, "
                  f"suggesting the right pupil {c.get('enrolled looks like right', 0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
