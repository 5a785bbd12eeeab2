"""The peer tools' own steps, replayed where their command lines print too little to compare."""

from __future__ import annotations


def face_recognition_cli_image(path):
    """The picture the ``face_recognition`` command line analyses for ``path``, and the factor
    back to original pixels: ``face_recognition_cli.test_image`` loads the file, then shrinks it
    to fit 1600x1600 with LANCZOS. Returns (RGB uint8 array, original pixels per array pixel)."""
    import face_recognition
    import numpy as np
    from PIL import Image

    image = face_recognition.load_image_file(str(path))
    if max(image.shape) <= 1600:
        return image, 1.0
    pil = Image.fromarray(image)
    pil.thumbnail((1600, 1600), Image.LANCZOS)
    return np.array(pil), image.shape[1] / pil.width


def hog_passes_before(path):
    """consent's face detection before CenterFace, replayed for the bench: dlib's HOG detector
    (threshold -0.2) on the photo decoded at 1600 px, then, when that found no face or only
    faces under 84 px, again at 3200 px. Returns the (top, right, bottom, left) boxes found."""
    import face_recognition.api as fr
    import numpy as np

    from consent import images

    photo = images.load(path, max_side=1600)
    rects, _, _ = fr.face_detector.run(np.asarray(photo.image), 0, -0.2)
    found = [(r.top(), r.right(), r.bottom(), r.left()) for r in rects]
    if not found or min(b - t for t, _, b, _ in found) < 84:
        big = images.load(path, max_side=3200)
        rects, _, _ = fr.face_detector.run(np.asarray(big.image), 0, -0.2)
        found = [(r.top(), r.right(), r.bottom(), r.left()) for r in rects]
    return found
