"""The face detector's CPU time, int8 against fp32 (consent.vision.centerface), side by side.

The fine pass a check runs (longest side ``detect_side``, 1600 px) over every photo of
``faces-wild`` and of ``faces/``, each precision in turn, :data:`RUNS` times; the figure is the
ratio of the medians (CPU seconds of this process, steadier than wall time on a shared
machine). Whether int8 finds the same faces is not measured here but by
tests/test_centerface_int8.py and ``make calibrate-faces``; its verdict is printed with the
precision a check uses on this machine.
"""

from __future__ import annotations

import statistics
import time

from .timing import fixtures

#: interleaved runs of each precision over each set
RUNS = 3


def _inputs(folder):
    from consent import images
    from consent.settings import DEFAULTS
    from consent.vision import faces

    arrays = []
    for path, _ in images.find_images([folder]):
        photo = images.load(path, max_side=faces.analysis_side(DEFAULTS))
        arrays.append(faces._resized(photo.image, faces._fine_factor(max(photo.image.size), DEFAULTS)))
    return arrays


def _cpu(session, arrays, threshold) -> float:
    from consent.vision import centerface

    start = time.process_time()
    for rgb in arrays:
        centerface.detect(rgb, threshold, runner=session)
    return time.process_time() - start


def run() -> None:
    from consent.settings import DEFAULTS
    from consent.vision import centerface

    root = fixtures()
    sets = [name for name in ("faces-wild", "faces") if (root / name).is_dir()]
    if not sets:
        raise SystemExit(f"no face sets under {root} (set CONSENT_FIXTURES)")
    from consent.vision.models import onnx_session

    path = centerface.package_file(centerface.PACKAGE, centerface.FILE, centerface.WHAT)
    data = {"fp32": centerface.model().SerializeToString(), "int8": centerface.model_int8().SerializeToString()}
    table = centerface.range_table()
    print(f"int8 same faces as fp32 on faces/ and faces-wild/ (make calibrate-faces): "
          f"{table['check']['same_faces']}; this machine: VNNI {centerface.cpu_has_vnni()}, "
          f"a check runs {centerface.precision()}")
    # the runtime's default threads (a check on its own) on both sets; one thread (a batch
    # worker, consent.vision.models.one_thread_per_process) on faces-wild
    for name, threads in [(name, 0) for name in sets] + [(sets[0], 1)]:
        sessions = {p: onnx_session(path, centerface.WHAT, centerface.PACKAGE, data=data[p], threads=threads)
                    for p in data}
        arrays = _inputs(root / name)
        for session in sessions.values():  # warm: first runs allocate
            _cpu(session, arrays[:2], DEFAULTS.detect_threshold)
        times: dict[str, list[float]] = {p: [] for p in sessions}
        for _ in range(RUNS):
            for precision, session in sessions.items():
                times[precision].append(_cpu(session, arrays, DEFAULTS.detect_threshold))
        fp32, int8 = statistics.median(times["fp32"]), statistics.median(times["int8"])
        print(f"{name} ({len(arrays)} photos, {DEFAULTS.detect_side} px, {'one thread' if threads else 'default threads'}): "
              f"detection CPU int8 {int8:.2f} s, fp32 {fp32:.2f} s (medians of {RUNS}): int8/fp32 = {int8 / fp32:.2f}x")
