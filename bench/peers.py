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
