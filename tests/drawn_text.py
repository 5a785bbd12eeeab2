"""Names drawn onto real photos with Pillow, as a camera would see a badge, a bib, an exercise
book, a whiteboard or a printed shirt (tests/test_text.py and ``make bench`` (ocr))."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = {  # Debian fonts-dejavu-core and fonts-liberation (make install)
    "sans-bold": FONT_DIR / "dejavu/DejaVuSans-Bold.ttf",
    "serif": FONT_DIR / "dejavu/DejaVuSerif.ttf",
    "sans": FONT_DIR / "liberation/LiberationSans-Regular.ttf",
    "serif-italic": FONT_DIR / "liberation/LiberationSerif-Italic.ttf",
}
#: card: (background, ink)
CARDS = {
    "badge": ((250, 250, 250), (20, 20, 20)),
    "exercise book": ((245, 242, 230), (30, 30, 90)),
    "whiteboard": ((236, 240, 242), (20, 80, 170)),
    "shirt": ((20, 40, 110), (255, 255, 255)),
}


def draw(src: Path, dst: Path, words: str, *, card: str = "badge", font: str = "sans-bold",
         size: float = 0.025, angle: float = 0, where: tuple[float, float] = (0.05, 0.05),
         long_side: int | None = None):
    """Draw ``words`` on a card onto a copy of the photo ``src``; returns the card's
    (top, right, bottom, left) box. ``size`` is the letter size as a share of the long side;
    ``where`` places the card (0-1 across and down); ``long_side`` first resizes the photo
    (e.g. to a 12-megapixel camera's 4000 px)."""
    with Image.open(src) as im:
        img = ImageOps.exif_transpose(im).convert("RGB")
    if long_side:
        k = long_side / max(img.size)
        img = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.LANCZOS)
    width, height = img.size
    px = max(8, round(size * max(width, height)))
    face = ImageFont.truetype(str(FONTS[font]), px)
    background, ink = CARDS[card]
    pad = px // 2
    left, top, right, bottom = ImageDraw.Draw(img).multiline_textbbox((0, 0), words, font=face)
    sheet = Image.new("RGBA", (right + 2 * pad, bottom + 2 * pad), background + (255,))
    ImageDraw.Draw(sheet).multiline_text((pad, pad), words, font=face, fill=ink + (255,))
    sheet = sheet.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    x = round(where[0] * (width - sheet.width))
    y = round(where[1] * (height - sheet.height))
    img.paste(sheet, (x, y), sheet)
    img.save(dst, quality=92)
    return (y, x + sheet.width, y + sheet.height, x)


def missing_fonts() -> list[str]:
    """Font files the drawings need that are not installed (Debian fonts-dejavu-core, fonts-liberation)."""
    return [str(p) for p in FONTS.values() if not p.is_file()]
