"""Time dlib's face encoder on given faces and save the encodings; run by bench_check with the
project's dlib and again with the prebuilt ``dlib-bin`` in a side venv, so both encode the same
faces on the same machine in one run.

    python bench/encoder_speed.py faces.json out.npy

``faces.json``: ``[{"image": path, "boxes": [[left, top, right, bottom], ...]}, ...]``. Prints one
JSON line: dlib's version, whether it uses BLAS, faces, and the best of 5 ms per face. Needs only
``dlib``, ``numpy``, ``Pillow`` and ``face_recognition_models`` (no consent import).
"""

from __future__ import annotations

import json
import sys
import time


def main(spec: str, out: str) -> None:
    import dlib
    import face_recognition_models as frm
    import numpy as np
    from PIL import Image

    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    work = []
    for item in json.loads(open(spec).read()):
        arr = np.asarray(Image.open(item["image"]).convert("RGB"))
        shapes = dlib.full_object_detections()
        for box in item["boxes"]:
            shapes.append(predictor(arr, dlib.rectangle(*box)))
        work.append((arr, shapes))
    n = sum(len(s) for _, s in work)
    best, vectors = float("inf"), []
    for _ in range(5):
        start = time.perf_counter()
        vectors = [np.array(v) for arr, shapes in work for v in encoder.compute_face_descriptor(arr, shapes, 1)]
        best = min(best, time.perf_counter() - start)
    np.save(out, np.array(vectors))
    print(json.dumps({"dlib": dlib.__version__, "blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
                      "faces": n, "ms_per_face": 1000 * best / max(1, n)}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
