"""Time a face encoder on given faces and save the encodings; run by bench_check with dlib's
encoder in this venv and in a side venv with the prebuilt ``dlib-bin``, and with consent's
encoder (dlib's network on onnxruntime, ``consent.vision.encoder``), so all encode the same faces
on the same machine in one run.

    python bench/encoder_speed.py faces.json out.npy [dlib|consent]

``faces.json``: ``[{"image": path, "boxes": [[left, top, right, bottom], ...]}, ...]``. Prints one
JSON line: dlib's version, whether it uses BLAS, faces, and the best of 5 ms per face. dlib's
5-point landmarks are found once, outside the timing; each encoder's time includes cutting the
face chips from them (dlib's does it inside its call). With ``dlib`` (the default) it needs only
``dlib``, ``numpy``, ``Pillow`` and ``face_recognition_models`` (no consent import).
"""

from __future__ import annotations

import json
import sys
import time


def main(spec: str, out: str, which: str = "dlib") -> None:
    import dlib
    import face_recognition_models as frm
    import numpy as np
    from PIL import Image

    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    if which == "consent":
        from consent.vision import encoder as onnx_encoder

        onnx_encoder.session()

        encode = onnx_encoder.encode_faces
    else:
        model = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

        def encode(arr, shapes):
            return model.compute_face_descriptor(arr, shapes, 1)
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
        vectors = [np.array(v) for arr, shapes in work for v in encode(arr, shapes)]
        best = min(best, time.perf_counter() - start)
    np.save(out, np.array(vectors))
    print(json.dumps({"dlib": dlib.__version__, "blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
                      "encoder": which, "faces": n, "ms_per_face": 1000 * best / max(1, n)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
