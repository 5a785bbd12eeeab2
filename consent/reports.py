"""Batch reports: JSON (versioned, see docs/json.md), CSV for spreadsheets, and a self-contained
HTML page with thumbnails, face boxes coloured by state and filters by verdict.

Every report is written atomically (a temporary file in the same folder, then renamed). When
the settings it is made with weaken a safety check compared with the defaults
(:func:`consent.settings.weakened`), the HTML and CSV reports say so in their footer.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from . import __version__, images
from .errors import ConsentError
from .results import (BLOCK, FACE_STATE_WORDS, JSON_VERSION, VERDICT_LABELS, VERDICT_WORDS, PhotoCheck, channel_label,
                      counts_words, join_words)

#: face box colours by state (green cleared, red no consent, amber review, grey a face nobody
#: could recognise)
STATE_COLOURS = {"cleared": "#1b7f3b", "no_consent": "#d93025", "review": "#f29900", "not_identifiable": "#80868b"}
THUMB_SIDE = 360


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_json(results: list[PhotoCheck], names: bool = True) -> dict:
    """The batch as one JSON document: version, tool version, counts and every photo."""
    from .batch import counts

    return {
        "version": JSON_VERSION,
        "tool": f"consent {__version__}",
        "generated": datetime.now().isoformat(timespec="seconds"),
        "counts": counts(results),
        "photos": [r.to_json(names=names) for r in results],
    }


def write_json(results: list[PhotoCheck], path, names: bool = True) -> Path:
    return atomic_write(path, json.dumps(to_json(results, names), indent=2).encode())


#: the CSV's columns: stable codes for scripts (``verdict``, then one column per channel checked,
#: ``reasons``), each followed by the same in the pages' words (``decision``, ``why``)
CSV_FIELDS = ["photo", "verdict", "decision", "summary", "pupils", "faces", "reasons", "why", "safe_copy",
              "blurred_copy", "error"]

#: each reason code (``consent.rules.REASON_CODES``) in a few words, as a report's "why" says it
REASON_WORDS = {
    "never_publish": "never to be published",
    "no_consent": "no consent",
    "unrecognised_face": "a face not recognised",
    "unchecked_face": "a face not checked",
    "ambiguous_match": "a face that could be one of two people",
    "looks_like": "a face that looks like a pupil",
    "close_up": "close-up",
    "small_group": "small group",
    "name_in_caption": "a name in the caption",
    "caption_names_someone": "a word in the caption that may be a name",
    "name_in_picture": "a name written in the photo",
    "text_unreadable": "writing in the photo not read",
    "location_metadata": "location in the file",
    "pe_kit": "PE kit or sportswear",
    "exposure": "swimwear or bare skin",
    "kit_unknown": "PE kit not checked",
    "sound_not_checked": "sound not listened to",
    "kit_not_checked": "PE kit not checked in the video",
    "picture_text_not_checked": "writing and PE kit not checked in the video",
}


#: identifying metadata (``consent.metadata`` group codes) as a school says it
REMOVED_KINDS = (
    ("camera", ("camera", "maker_notes", "time", "software", "thumbnail")),
    ("location", ("gps",)),
    ("name", ("people", "owner", "iptc", "comment", "xmp")),
)


def removed_words(groups) -> str:
    """Metadata groups found, said once in plain words: "camera and location details removed"
    (the groups themselves are the detail behind it)."""
    kinds = [words for words, codes in REMOVED_KINDS if set(codes) & set(groups)] or ["identifying"]
    return f"{join_words(kinds)} details removed"


def reasons_words(result: PhotoCheck) -> str:
    """Why a photo is held back, in a few words each: "a face not recognised; close-up"."""
    return "; ".join(dict.fromkeys(REASON_WORDS.get(x.code, x.code.replace("_", " ")) for x in result.reasons))


#: a cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value):
    """A cell a spreadsheet shows as text, never runs: one starting like a formula (a file
    named ``=HYPERLINK(...)``) gets a leading apostrophe (OWASP's CSV-injection advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell passes :func:`safe_cell`: the one CSV writer for the
    command line's and the web app's reports (and any other CSV the tool writes)."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def weakened_footer(settings=None) -> str:
    """"Checks weakened: ..." for ``settings`` (default: those in force), or "" when none is."""
    from . import settings as settings_mod

    words = settings_mod.weakened_words(settings if settings is not None else settings_mod.load())
    return words[:1].upper() + words[1:]


def render_csv(results: list[PhotoCheck], settings=None) -> str:
    """One row per photo (:data:`CSV_FIELDS`), plus one verdict column per channel checked; after
    an empty row, a last row saying which checks were weakened, if any (``settings``: default
    those in force)."""
    channels = list(dict.fromkeys(c for r in results for c in r.verdicts))
    buf = io.StringIO()
    writer = SafeCsvWriter(buf)
    writer.writerow(CSV_FIELDS[:2] + channels + CSV_FIELDS[2:])
    for r in results:
        writer.writerow(
            [r.path, r.verdict]
            + [r.verdicts[c].verdict if c in r.verdicts else "" for c in channels]
            + [VERDICT_WORDS[r.verdict], r.summary(), r.pupil_count, len(r.faces), " | ".join(x.code for x in r.reasons), reasons_words(r),
               r.safe_copy or "", blurred_copy(r) or "", r.error or ""]
        )
    footer = weakened_footer(settings)
    if footer:
        writer.writerows([[], [footer]])
    return buf.getvalue()


def blurred_copy(result: PhotoCheck) -> str | None:
    """The copy of ``result`` with faces (and names in the picture) blurred, if there is one:
    the one beside the plain safe copy, or the safe copy itself when it was blurred."""
    return result.blurred_copy or (result.safe_copy if result.blurred else None)


def blurred_words(result: PhotoCheck) -> str | None:
    """What a report says of the blurred copy, judged by rule (``consent.blurring``): "faces
    without consent blurred; re-checked: ok for website and newsletter; needs sign-off for press"
    (None without a blurred copy)."""
    name, copy = blurred_copy(result), result.blurred
    if not name or not copy:
        return None
    groups: dict[str, list[str]] = {}
    for channel, v in copy.get("channels", {}).items():
        groups.setdefault(v["verdict"], []).append(channel_label(channel))
    checked = "; ".join(f"{VERDICT_WORDS[v]} for {join_words(c)}" for v, c in groups.items())
    return f"{name}: faces without consent blurred; re-checked: {checked}"


def csv_bytes(results: list[PhotoCheck], settings=None) -> bytes:
    """The CSV report as bytes, with a BOM so Excel reads it as UTF-8."""
    return render_csv(results, settings).encode("utf-8-sig")


def write_csv(results: list[PhotoCheck], path, settings=None) -> Path:
    return atomic_write(path, csv_bytes(results, settings))


def face_state(result: PhotoCheck, face) -> str:
    """The worst state of a face over the channels checked."""
    return face.overall_state(result.channels)


def thumbnail(result: PhotoCheck, side: int = THUMB_SIDE) -> str | None:
    """A small JPEG of the photo with face boxes drawn, as a data: URL (None if unreadable)."""
    from PIL import ImageDraw

    if result.video is not None:  # a clip: the frames behind its reasons (consent.video.preview)
        from .video.preview import strip

        frames = strip(result, {f.index: STATE_COLOURS[face_state(result, f)] for f in result.faces}, side)
        if frames is None:
            return None
        buf = io.BytesIO()
        frames.save(buf, "JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    try:
        photo = images.load(result.path, max_side=side)
    except ConsentError:
        return None
    img = photo.image
    draw = ImageDraw.Draw(img)
    for face in result.faces:
        top, right, bottom, left = (v / photo.scale for v in face.box)
        draw.rectangle([left, top, right, bottom], outline=STATE_COLOURS[face_state(result, face)],
                       width=max(2, side // 120))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f7f7f8}
header{background:#123b5d;color:#fff;padding:1rem 1.5rem}header h1{margin:0;font-size:1.3rem}
main{padding:1rem 1.5rem}.filters{margin:.5rem 0 1rem}.filters label{margin-right:1rem;cursor:pointer}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:.75rem;overflow:hidden}
.card img{max-width:100%;display:block;margin:.5rem 0;border-radius:4px}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:99px;color:#fff;font-weight:600}
.ok{background:#1b7f3b}.review{background:#b26a00}.block{background:#b3261e}.error{background:#5f6368}
.name{font-weight:600;word-break:break-all}ul{padding-left:1.1rem;margin:.3rem 0}
.legend span{margin-right:1rem}.sw{display:inline-block;width:.9em;height:.9em;border:3px solid;vertical-align:middle}
#f-ok:checked~.grid .card:not(.v-ok),#f-review:checked~.grid .card:not(.v-review),
#f-block:checked~.grid .card:not(.v-block),#f-error:checked~.grid .card:not(.v-error){display:none}
input[name=f]{margin-left:.2rem}
footer.weakened{margin:1rem 1.5rem;padding:.8rem 1rem;border-left:6px solid #b3261e;background:#fce8e6}
.withheld{display:flex;align-items:center;justify-content:center;min-height:10rem;margin:.5rem 0;padding:1rem;border-radius:4px;background:#9aa0a6;color:#fff;font-weight:600;text-align:center}
"""


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def render_html(results: list[PhotoCheck], title: str = "Photo check report", settings=None) -> str:
    """A self-contained page (no external files, no scripts); its footer says which checks were
    weakened, if any (``settings``: default those in force)."""
    from .batch import counts

    n = counts(results)
    esc = html.escape
    cards = []
    for r in results:
        verdict = r.verdict
        word = VERDICT_WORDS[verdict]
        parts = [f'<div class="card v-{verdict}"><div class="name">{esc(r.name)}</div>',
                 f'<span class="badge {verdict}">{esc(word)}</span>']
        blocked = verdict == BLOCK
        thumb = None if (r.error or blocked) else thumbnail(r)
        if blocked:
            # a shared report never shows a photo that must not be published
            why = next((x.message for x in r.reasons if x.severity == "block"), VERDICT_WORDS[BLOCK])
            parts.append(f'<div class="withheld" role="img" aria-label="Photo not shown">'
                         f"Photo not shown: {esc(why)}</div>")
        elif thumb:
            parts.append(f'<img src="{thumb}" alt="{esc(r.name)} with {_count(len(r.faces), "face")} marked">')
        if r.error:
            parts.append(f"<p>{esc(r.error)}</p>")
        else:
            parts.append("<ul>" + "".join(
                f"<li><b>{esc(channel_label(c))}</b>: {esc(VERDICT_WORDS[v.verdict])}</li>" for c, v in r.verdicts.items()
            ) + "</ul>")
            if r.reasons:
                parts.append("<ul>" + "".join(f"<li>{esc(x.message)}</li>" for x in r.reasons) + "</ul>")
            if r.reasons:
                parts.append(f'<p class="why">Why: {esc(reasons_words(r))}</p>')
            parts.append(f"<div>{_count(r.pupil_count, 'pupil')}, {_count(len(r.faces), 'face')}</div>")
            blurred = blurred_words(r)
            if blurred:
                parts.append(f'<p class="blurred">Blurred copy {esc(blurred)}</p>')
        parts.append("</div>")
        cards.append("".join(parts))
    radios = "".join(
        f'<input type="radio" name="f" id="f-{k}"{" checked" if k == "all" else ""}>'
        f'<label for="f-{k}">{label} ({count})</label>'
        for k, label, count in [
            ("all", "All", len(results)),
            *((k, VERDICT_LABELS[k], n[k]) for k in ("ok", "review", "block", "error")),
        ]
    )
    legend = "".join(
        f'<span><i class="sw" style="border-color:{c}"></i> {esc(FACE_STATE_WORDS[state])}</span>'
        for state, c in STATE_COLOURS.items()
    )
    weakened = weakened_footer(settings)
    footer = (f'<footer class="weakened" role="note"><strong>{esc(weakened)}</strong>: photos were checked with '
              "settings that can clear photos the default settings would stop</footer>") if weakened else ""
    return (
        f'<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{_CSS}</style></head><body><header><h1>{esc(title)}</h1>"
        f"<div>{esc(counts_words(n, videos=sum(1 for r in results if r.video is not None)))} · made {datetime.now():%d %b %Y %H:%M} by consent {__version__}</div>"
        f'</header><main><div class="legend">Face boxes: {legend}</div>'
        f'<div class="filters">{radios}<div class="grid">{"".join(cards)}</div></div></main>{footer}</body></html>'
    )


def write_html(results: list[PhotoCheck], path, title: str = "Photo check report", settings=None) -> Path:
    return atomic_write(path, render_html(results, title, settings).encode())
