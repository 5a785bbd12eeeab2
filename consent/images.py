"""Photo intake: read a photo's bytes once, open them by content, refuse bad files clearly,
decode the picture upright.

:class:`Photo` is a photo read once, at intake: every stage of a check takes it.
``read_file`` reads a file's bytes (the one time a check opens the photo); ``open_bytes``
checks them and returns a lazily-decoded Pillow image; ``decode_bytes`` decodes them upright
(EXIF orientation applied) as a :class:`Picture` and, for analysis, at a reduced size: JPEGs
are decoded with DCT scaling (``Image.draft``), so a 12-megapixel photo is never fully decoded
when a 1600-pixel one serves. ``open_image`` and ``load`` do the same from a path (tools,
previews, enrolment). Every refusal is a :class:`~consent.errors.ConsentError` whose message
names the file and the problem.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ImageTooLarge, UnreadableImage, UnsupportedFormat
from .settings import DEFAULTS, Settings

#: Pillow format name -> the name users know. MPO is a JPEG with extra frames (phone cameras).
SUPPORTED_FORMATS = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "TIFF": "TIFF",
    "HEIF": "HEIC/HEIF",
}

#: file name endings the batch and strip commands pick up in folders
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif"}
#: endings of videos, camera RAW files and other pictures an event folder may hold that this
#: tool cannot check: picked up too, so each is listed as "could not check" with what to do
#: (never passed over in silence as documents are)
VIDEO_SUFFIXES = {".mov", ".mp4", ".m4v", ".avi", ".mkv", ".wmv", ".3gp", ".mts", ".m2ts", ".webm",
                  ".mpg", ".mpeg"}
RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".orf", ".rw2", ".raf", ".srw", ".pef"}
OTHER_PICTURE_SUFFIXES = {".gif", ".bmp", ".avif", ".jxl", ".svg", ".psd", ".ico"}
NOT_CHECKED_SUFFIXES = VIDEO_SUFFIXES | RAW_SUFFIXES | OTHER_PICTURE_SUFFIXES
#: the videos among them that `consent check` checks (consent.video.CHECKED_SUFFIXES: MP4, MOV,
#: M4V, WebM); other video endings, and every video on the web pages, stay "could not check:
#: watch it yourself" (not_checked_reason)
CHECKED_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm"}


def not_checked_reason(name: str) -> str | None:
    """Why a file called ``name`` cannot be checked and what to do, when its ending is a video's,
    a camera RAW file's or another picture format this tool does not read; else None."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        return (f"{name}: a video; this tool checks photos only, so watch it and check every face, "
                "name and caption yourself before publishing it")
    if suffix in RAW_SUFFIXES:
        return f"{name}: a camera RAW file, which this tool cannot read; export it as JPEG and check that copy"
    if suffix in OTHER_PICTURE_SUFFIXES:
        return _not_supported(name, suffix[1:].upper())
    return None


def _not_supported(name: str, fmt: str) -> str:
    return f"{name}: {fmt} images are not supported; save it as JPEG or PNG and try again"

ORIENTATION_TAG = 0x0112

#: EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose)
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


@dataclass
class Picture:
    """A photo's picture, decoded upright, ready for analysis."""

    #: the file it was read from (named in messages; never opened again)
    path: Path
    #: the name users know: JPEG, PNG, WebP, TIFF, HEIC/HEIF
    format: str
    #: width and height of the original picture as displayed (orientation applied)
    width: int
    height: int
    #: EXIF orientation of the original (1 = upright already)
    orientation: int
    #: the decoded picture, RGB, upright; possibly smaller than the original
    image: Image.Image
    #: multiply coordinates in ``image`` by this to get original-picture coordinates
    scale: float
    #: things the user should know (e.g. only the first frame of an animation was checked)
    notes: list[str] = field(default_factory=list)
    #: the file's bytes, when kept: a face too small in ``image`` is encoded from them decoded
    #: again, larger (:func:`consent.vision.faces.encode`)
    data: bytes | None = field(default=None, repr=False)

    def array(self):
        """The picture as a ``numpy`` uint8 array of shape (height, width, 3)."""
        import numpy as np

        return np.asarray(self.image)


def describe(path: os.PathLike | str) -> str:
    """How a file is named in messages: its path as given."""
    return str(path)


def _unreadable(path: os.PathLike | str, exc: OSError) -> UnreadableImage:
    """The clear refusal for a file the system would not let us read."""
    name = describe(path)
    if isinstance(exc, FileNotFoundError):
        return UnreadableImage(f"{name}: file not found; check the path")
    if isinstance(exc, IsADirectoryError):
        return UnreadableImage(f"{name}: is a folder, not a photo")
    return UnreadableImage(f"{name}: cannot be read ({exc.strerror or exc}); check permissions")


def read_file(path: os.PathLike | str, limit: int | None = None) -> bytes:
    """The bytes of the file at ``path``, or :class:`UnreadableImage` saying why not (missing,
    a folder, no permission). A file larger than ``limit`` bytes is refused
    (:class:`ImageTooLarge`) before anything of it is read: its bytes alone would not fit the
    memory a check may hold."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None and size > limit:
                raise ImageTooLarge(f"{describe(path)}: the file is {size / 2**20:,.0f} MB, more than the "
                                    f"memory one photo's check may use; {SMALLER_COPY}")
            return fh.read()
    except OSError as exc:
        raise _unreadable(path, exc) from None


def open_image(path: os.PathLike | str, settings: Settings = DEFAULTS) -> Image.Image:
    """Open ``path`` by content and check it can be a photo we accept (:func:`open_bytes`)."""
    return open_bytes(read_file(path), path, settings)


def open_bytes(data: bytes, path: os.PathLike | str, settings: Settings = DEFAULTS) -> Image.Image:
    """Open the bytes of the file ``path`` by content and check they can be a photo we accept;
    nothing is decoded yet.

    Raises :class:`UnreadableImage` (empty, not an image), :class:`UnsupportedFormat` (e.g.
    GIF) or :class:`ImageTooLarge` (more pixels than ``settings.max_pixels``).
    """
    name = describe(path)
    if not data:
        raise UnreadableImage(f"{name}: the file is empty (0 bytes); copy the photo again")
    _register_heif()
    try:
        # Pillow's warnings (damaged EXIF...) are held until the photo is accepted: a file refused
        # gets its one clear message, not Pillow's lines as well
        with warnings.catch_warnings(record=True) as held:
            warnings.simplefilter("always")
            # We apply our own pixel limit below, with a clearer message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"{name}: the picture has too many pixels to check safely (limit "
            f"{settings.max_pixels / 1e6:.0f} megapixels); resize it first"
        ) from None
    except UnidentifiedImageError:
        raise UnreadableImage(not_checked_reason(name) or (
            f"{name}: not a photo this tool can read (expected JPEG, PNG, WebP, TIFF or HEIC); "
            "the file may be a document or damaged")
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's readers raise many types on bad files
        raise UnreadableImage(
            f"{name}: the file is damaged and cannot be opened ({_why(exc)}); copy the original "
            "photo again"
        ) from None
    if img.format not in SUPPORTED_FORMATS:
        fmt = img.format
        img.close()
        raise UnsupportedFormat(_not_supported(name, fmt))
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise UnreadableImage(f"{name}: the picture has no pixels; the file is damaged")
    if w * h > settings.max_pixels:
        img.close()
        raise ImageTooLarge(
            f"{name}: {w}x{h} is {w * h / 1e6:.0f} megapixels, over the limit of "
            f"{settings.max_pixels / 1e6:.0f}; {SMALLER_COPY}"
        )
    refuse_over_budget(img, name, settings, settings.detect_side)
    for w in held:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return img


#: what a person whose photo is refused as too large is told to do (never to change a setting)
SMALLER_COPY = "save a smaller copy (e.g. 4000 px on the long side, as JPEG) and try again"

#: bytes per pixel Pillow holds in memory for each mode (RGB and the like are stored in 4)
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
#: modes converted to RGB through a numpy copy and a lookup table (extra bytes per pixel)
_WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
#: bytes per pixel of the whole picture a format's decoder holds besides Pillow's own copy:
#: Pillow decodes a WebP through libwebp's animation decoder, whose two RGBA canvases and the
#: frame handed to Pillow are each 4 bytes a pixel (measured: 15 bytes a pixel in all, for a
#: 98-megapixel WebP); pillow-heif hands Pillow a decoded RGB buffer of its own, 3 bytes a
#: pixel (measured: 6.9 bytes a pixel in all, for a 98-megapixel HEIC)
_DECODER_BYTES = {"WEBP": 12, "HEIF": 3}


def draft_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a JPEG of ``width`` x ``height`` is decoded at for ``max_side`` (:func:`decode`
    asks ``Image.draft`` for it, which picks the smallest DCT scale, 1/8 to 1, still at least
    the size asked for): Pillow's own arithmetic."""
    if max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    want = (math.ceil(width * factor), math.ceil(height * factor))
    ratio = min(width // want[0], height // want[1])
    scale = next(s for s in (8, 4, 2, 1) if ratio >= s)
    return -(-width // scale), -(-height // scale)


def _jpeg_coefficients(img: Image.Image) -> int:
    """Bytes libjpeg holds for a progressive JPEG's DCT coefficients, whatever the scale it is
    decoded at: every component's blocks of the whole picture, 2 bytes a coefficient."""
    layers = getattr(img, "layer", None) or [("", 1, 1, 0)] * len(img.getbands())
    hmax = max(layer[1] for layer in layers) or 1
    vmax = max(layer[2] for layer in layers) or 1
    total = 0
    for _, hs, vs, _ in layers:
        blocks_w = math.ceil(math.ceil(img.width * hs / hmax) / 8)
        blocks_h = math.ceil(math.ceil(img.height * vs / vmax) / 8)
        total += blocks_w * blocks_h * 64 * 2
    return total


def check_cost(img: Image.Image, max_side: int | None = None) -> int:
    """Bytes of memory the check of ``img`` (opened, not yet loaded) can hold at once, read from
    its header, when decoded for ``max_side`` (None: full size): counted over every copy the
    check makes, the largest being at the decode:

    - the picture in its own mode and bit depth (a JPEG at its DCT-scaled size), and what its
      decoder holds besides (libwebp's canvases, pillow-heif's buffer, a progressive JPEG's
      coefficients of the whole picture, which DCT scaling does not make smaller);
    - the RGB working copy (none for an RGB picture: it is taken over, not copied; a palette's
      transparency is painted into the palette, so one RGB copy; RGBA needs the white
      background and the alpha channel), and for 16-bit and float pictures the conversion's
      own arrays;
    - the reduced copy made on the way to ``max_side``.

    The later stages hold less: the analysis picture (``max_side``), the safe copy's read-back
    (the copy decoded again, without conversion) and a TIFF's or HEIC's re-encoding (the same
    decode) come after the decode's copies are dropped. ``tests/test_memory_budget.py`` measures
    that the estimate bounds what a check really takes.
    """
    width, height = img.size
    pixels = width * height
    decoded = pixels
    if max_side and img.format in ("JPEG", "MPO"):
        dw, dh = draft_size(width, height, max_side)
        decoded = dw * dh
    native = _MODE_BYTES.get(img.mode, 4)
    if img.mode == "RGB":
        conversion = 0
    elif img.mode == "RGBA":
        conversion = 5
    elif img.mode in ("LA", "PA"):
        conversion = 9
    else:
        conversion = 4
    if img.mode in _WIDE_MODES:
        conversion += native + 1
    cost = decoded * (native + conversion) + pixels * _DECODER_BYTES.get(img.format, 0)
    if img.format in ("JPEG", "MPO") and (img.info.get("progressive") or img.info.get("progression")):
        cost += _jpeg_coefficients(img)
    if max_side and max(width, height) > max_side:
        cost += min(decoded, 4 * max_side * max_side) * 4  # the reduced copy (reducing_gap 2)
    return cost


_libc = None


def give_back_memory() -> None:
    """Hand the memory of dropped full-size copies back to the system (glibc's ``malloc_trim``;
    nothing elsewhere). glibc keeps a freed picture's memory for reuse, where the next stage's
    buffers (the models', a re-check's) do not always fit, so they would be added on top: a
    process's peak would then be one picture's copies plus everything after them."""
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def refuse_over_budget(img: Image.Image, name: str, settings: Settings, max_side: int | None) -> None:
    """Refuse (and close) the opened ``img`` when checking it decoded for ``max_side`` would hold
    more than ``settings.max_decode_mb`` (:func:`check_cost`): nothing is decoded."""
    need = check_cost(img, max_side)
    if need > settings.max_decode_mb * 2**20:
        w, h = img.size
        what = _describe_mode(img)
        fmt = SUPPORTED_FORMATS.get(img.format, img.format)
        img.close()
        raise ImageTooLarge(
            f"{name}: this photo is too large to check ({w}x{h} {what} {fmt}, "
            f"{w * h / 1e6:.0f} megapixels); {SMALLER_COPY}"
        )


def _describe_mode(img: Image.Image) -> str:
    if img.mode.startswith("I;16"):
        return "16-bit greyscale"
    return {"1": "black-and-white", "L": "greyscale", "P": "palette", "I": "32-bit greyscale",
            "F": "floating-point", "RGB": "colour", "RGBA": "colour"}.get(img.mode, f"{img.mode}")


def _why(exc: Exception) -> str:
    """A decoder's complaint in a few words (never a path: Pillow's messages hold none)."""
    text = str(exc).strip() or type(exc).__name__
    return text[:120]


def _png_late_exif(img: Image.Image) -> Image.Exif | None:
    """The EXIF of a PNG not yet decoded whose ``eXIf`` chunk is not before its pixels, read by
    walking its chunks (Pillow's ``getexif`` would decode the whole picture to reach it, and
    keep it); None when it has none."""
    fp = img.fp
    start = fp.tell()
    try:
        fp.seek(8)
        while len(head := fp.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(b"Exif\x00\x00" + fp.read(length))
                return exif
            if kind == b"IEND":
                break
            fp.seek(length + 4, 1)
        return None
    finally:
        fp.seek(start)


def read_orientation(img: Image.Image) -> int:
    """EXIF orientation 1-8 of an opened image; 1 when absent or unreadable. Reading it never
    decodes the picture."""
    try:
        if img.format == "PNG" and "exif" not in img.info and img._im is None and img.fp is not None:
            exif = _png_late_exif(img)
            value = exif.get(ORIENTATION_TAG, 1) if exif is not None else 1
        else:
            value = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # hostile EXIF must not stop the check: treat as upright
        return 1
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def is_animated(img: Image.Image) -> bool:
    """True for animations (APNG, animated WebP); MPO extra frames are previews, not animation."""
    return img.format != "MPO" and bool(getattr(img, "is_animated", False))


def _flatten_palette(img: Image.Image) -> None:
    """Paint a palette picture's transparency onto white in its palette (each entry blended
    with white by its alpha, as pasting onto a white background does), in place: its RGB copy
    is then the only copy, not an RGBA one, a background and a mask as well."""
    palette = img.getpalette("RGB") or []
    transparency = img.info.pop("transparency")
    if isinstance(transparency, int):
        alphas = [0 if i == transparency else 255 for i in range(len(palette) // 3)]
    else:
        alphas = list(transparency) + [255] * (len(palette) // 3 - len(transparency))
    img.putpalette([round((c * a + 255 * (255 - a)) / 255)
                    for i, c in enumerate(palette) for a in (alphas[i // 3],)])


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` (loaded) as RGB, transparency painted onto white: an RGB picture is returned
    itself, others converted with as few full-size copies as each mode allows."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info and img.getpalette("RGB"):
        _flatten_palette(img)
        return img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode.startswith("I;16"):
        # 16-bit greyscale: scale to 8 bits (not clip) through a lookup table, so no wide
        # temporary array is made (a float copy of a 100-megapixel picture is 800 MB)
        import numpy as np

        arr = np.asarray(img)
        hi = int(arr.max()) or 1
        lut = (np.arange(hi + 1, dtype=np.uint32) * 255 // hi).astype(np.uint8)
        grey = Image.fromarray(lut[arr])
        del arr
        return grey.convert("RGB")
    if img.mode in ("I", "F"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        if not np.isfinite(lo) or not np.isfinite(hi):
            arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
            lo, hi = float(arr.min()), float(arr.max())
        lo = min(lo, 0.0)
        scale = 255.0 / ((hi - lo) or 1.0)
        arr -= lo
        arr *= scale
        return Image.fromarray(arr.clip(0, 255).astype("uint8")).convert("RGB")
    return img.convert("RGB")


def decode(img: Image.Image, name: str, max_side: int | None = None) -> None:
    """Decode an opened image's pixels (JPEG: DCT-scaled down towards ``max_side``), or refuse
    it as truncated or corrupted. The one decision on whether a picture's data is whole: the
    check and the safe copy both ask it."""
    raw_w, raw_h = img.size
    if max_side and img.format in ("JPEG", "MPO") and max(raw_w, raw_h) > max_side:
        factor = max_side / max(raw_w, raw_h)
        # draft() picks the smallest DCT scale (1/2, 1/4, 1/8) still >= the size asked for.
        img.draft("RGB", (math.ceil(raw_w * factor), math.ceil(raw_h * factor)))
    try:
        img.load()
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name}: the picture has too many pixels to check safely") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means damaged data
        raise UnreadableImage(
            f"{name}: the picture data is truncated or corrupted ({_why(exc)}); "
            "copy the original photo from the camera again"
        ) from None


def load(
    path: os.PathLike | str,
    max_side: int | None = None,
    settings: Settings = DEFAULTS,
) -> Picture:
    """The photo at ``path`` decoded (:func:`decode_bytes`)."""
    return decode_bytes(read_file(path), path, max_side, settings)


def decode_bytes(
    data: bytes,
    path: os.PathLike | str,
    max_side: int | None = None,
    settings: Settings = DEFAULTS,
) -> Picture:
    """Decode the bytes of the photo ``path`` upright as RGB, no larger than ``max_side`` on its
    longest side; the picture keeps the bytes (a larger decode for small faces).

    ``max_side=None`` decodes at full size. Raises the errors of :func:`open_bytes`, and
    :class:`UnreadableImage` when the picture data is truncated or corrupted.
    """
    name = describe(path)
    img = open_bytes(data, path, settings)
    if max_side != settings.detect_side:  # (open_bytes budgeted the analysis size)
        refuse_over_budget(img, name, settings, max_side)
    notes: list[str] = []
    try:
        fmt = SUPPORTED_FORMATS[img.format]
        raw_w, raw_h = img.size
        if is_animated(img):
            notes.append("animated image: only the first frame was checked")
        decode(img, name, max_side)
        # Read after load(): Pillow's TIFF reader applies the orientation itself while loading
        # (and drops the tag), so reading it earlier would rotate a TIFF twice.
        orientation = read_orientation(img)
        rgb = to_rgb(img)
        if rgb is img:
            rgb = img._new(img.im)  # the decoded pixels taken over, not copied: close() drops img's
    finally:
        img.close()
    width, height = (raw_h, raw_w) if orientation in (5, 6, 7, 8) else (raw_w, raw_h)
    # each full-size copy dropped as soon as the next is made: reduced first, turned upright
    # after (turning the smaller picture)
    if max_side and max(rgb.size) > max_side:
        factor = max_side / max(rgb.size)
        target = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation in UPRIGHT:
        rgb = rgb.transpose(UPRIGHT[orientation])
    if max(raw_w, raw_h) > max(rgb.size):
        give_back_memory()  # the full-size copies are gone
    return Picture(
        path=Path(path),
        format=fmt,
        width=width,
        height=height,
        orientation=orientation,
        image=rgb,
        scale=width / rgb.width,
        notes=notes,
        data=data,
    )


@dataclass(eq=False)
class Photo:
    """A photo read once: what every stage of a check takes, from intake on (:mod:`consent.check`).

    Made at intake: :meth:`read` opens and reads the file, this once (nothing later opens it
    again), or :meth:`of_bytes` takes bytes from elsewhere (a remote worker's). It is accepted
    there as a photo (:func:`open_bytes`'s refusals: empty, not a photo, unsupported, too many
    pixels) and carries the bytes, their SHA-256 (the analysis cache's key), the name it is
    known by, its format and its opened header. What is made of it is made once:

    - the picture, decoded from the bytes once for each size asked for (:meth:`picture`: the
      analysis size for the models, full size for a blurred copy; a face too small at the
      analysis size is encoded from a larger decode of the same bytes, ``Picture.data``);
    - the metadata scan of the header and bytes (:func:`consent.metadata.scan` keeps it in
      :attr:`scanned`), which the analysis and the safe copy share.
    """

    #: the file it was read from: named in messages and results, never opened again
    path: Path
    #: the name it is known by (an upload's original file name; default the file's name)
    name: str
    data: bytes = field(repr=False)
    #: SHA-256 of the bytes, hex: identifies the photo across renames
    sha256: str
    #: the name users know: JPEG, PNG, WebP, TIFF, HEIC/HEIF
    format: str
    #: the bytes opened by Pillow, never decoded (their tags and blocks, for the metadata scan)
    header: Image.Image = field(repr=False)
    #: Pillow warned while opening them (damaged EXIF)
    damaged: bool = False
    settings: Settings = field(default=DEFAULTS, repr=False)
    #: seconds the intake took (reading, hashing and opening the bytes)
    read_s: float = field(default=0.0, repr=False)
    #: the metadata scan of the photo, made once by :func:`consent.metadata.scan`
    scanned: tuple | None = field(default=None, repr=False)
    _pictures: dict = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def read(cls, path: os.PathLike | str, settings: Settings = DEFAULTS, name: str | None = None) -> "Photo":
        """The photo at ``path``: its file opened and read, this once. Raises the refusals of
        :func:`read_file` (missing, a folder, no permission) and :func:`open_bytes`."""
        started = time.perf_counter()
        photo = cls.of_bytes(read_file(path, settings.max_decode_mb * 2**20), path, settings, name)
        photo.read_s = time.perf_counter() - started
        return photo

    @classmethod
    def of_bytes(cls, data: bytes, path: os.PathLike | str, settings: Settings = DEFAULTS,
                 name: str | None = None) -> "Photo":
        """The photo whose bytes are ``data``, known as ``path`` (never opened). Raises the
        refusals of :func:`open_bytes`."""
        path = Path(path)
        with warnings.catch_warnings(record=True) as caught:  # noted as damage (the decode shows them)
            warnings.simplefilter("always")
            header = open_bytes(data, path, settings)
        return cls(path, name or path.name, data, hashlib.sha256(data).hexdigest(),
                   SUPPORTED_FORMATS[header.format], header, bool(caught), settings)

    @property
    def suffix(self) -> str:
        """The ending of its publication-safe copy, by content: ``.png``, ``.webp`` or ``.jpg``."""
        return copy_suffix(self.data)

    def open(self) -> Image.Image:
        """A new Pillow image over the bytes, nothing decoded (to decode, then close); Pillow's
        warnings on opening them were noted at intake (:attr:`damaged`), not shown again."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return open_bytes(self.data, self.path, self.settings)

    def picture(self, max_side: int | None = None) -> Picture:
        """The picture decoded upright, no larger than ``max_side`` (None: full size), decoded
        once for each size asked for; a full-size picture already decoded serves any size it
        fits. Raises the errors of :func:`decode_bytes`."""
        if max_side not in self._pictures:
            full = self._pictures.get(None) or next(
                (p for p in self._pictures.values() if p.scale == 1.0), None)
            if full is not None and (max_side is None or max(full.image.size) <= max_side):
                self._pictures[max_side] = full
            else:
                self._pictures[max_side] = decode_bytes(self.data, self.path, max_side, self.settings)
        return self._pictures[max_side]

    def take_picture(self, max_side: int | None = None) -> Picture:
        """The picture as :meth:`picture` gives it, for the caller to change in place (a blurred
        copy): handed over and no longer kept on the photo, so no second full-size copy is
        made of it."""
        picture = self.picture(max_side)
        for size in [size for size, kept in self._pictures.items() if kept is picture]:
            del self._pictures[size]
        return picture

    def check_whole(self) -> None:
        """Refuse the photo when its picture data is truncated or corrupted (the check's own
        decision, :func:`decode`): decoded already, it is whole; else it is decoded at the
        smallest size that still reads every scan."""
        if self._pictures:
            return
        img = self.open()
        try:
            decode(img, describe(self.path), max_side=1)
        finally:
            img.close()


def copy_suffix(data: bytes) -> str:
    """The file ending a publication-safe copy of these bytes gets, by content: ``.png``,
    ``.webp`` or ``.jpg`` (everything else is copied as, or re-encoded to, JPEG)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".jpg"


def file_hash(path: os.PathLike | str) -> str:
    """SHA-256 of a file's bytes, hex: identifies a photo across renames. A file that cannot be
    read raises :class:`UnreadableImage` saying why."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return digest.hexdigest()


def find_images(paths, recursive: bool = True, not_checked: bool = False):
    """Yield ``(path, relative_path)`` for every photo named or inside the folders named.

    Files named directly are yielded whatever their ending (content decides later); inside
    folders only files with a photo ending are taken, and with ``not_checked`` videos and
    pictures this tool cannot read too (:data:`NOT_CHECKED_SUFFIXES`: a check or a strip of a
    folder reports them, not passes them over); hidden files and folders are skipped.
    """
    endings = IMAGE_SUFFIXES | NOT_CHECKED_SUFFIXES if not_checked else IMAGE_SUFFIXES
    for given in paths:
        given = Path(given)
        if given.is_dir():
            walker = sorted(given.rglob("*")) if recursive else sorted(given.iterdir())
            for p in walker:
                rel = p.relative_to(given)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if p.is_file() and p.suffix.lower() in endings:
                    yield p, Path(given.name) / rel
        else:
            yield given, Path(given.name)


# Pillow must never silently accept truncated data.
ImageFile.LOAD_TRUNCATED_IMAGES = False
