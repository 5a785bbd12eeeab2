"""``POST /api/check``: check one photo or clip (MP4, MOV, M4V, WebM) from a script; returns the
same versioned JSON as ``consent check --json`` (see docs/json.md; a clip's reasons carry times).

Authentication is by a per-user API token only (``Authorization: Bearer cst_...``, made and
revoked by an admin on the users page); session cookies are ignored here, which is why these
routes need no CSRF token. Names of people are included only for tokens of users allowed to see
them (admin, senior). The upload is deleted as soon as it is checked; no safe copy is made.

Multipart fields: ``file`` (the photo or clip), ``channel`` (optional, repeatable; ``all`` or absent
means every channel), ``caption`` (optional), ``group`` (optional, repeatable or
comma-separated: the year groups or classes who can be in the photo; faces are compared with
them and all staff only).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request

from consent import images
from consent.errors import ConsentError, ImageTooLarge, VideoTooLarge
from consent.jobs import check_thread
from consent.results import PhotoCheck
from consent.video import is_video
from consent.video.frames import probe

from . import caption_probes, checked_photos
from ..core.body_limits import api_refusal
from ..core.errors import error_response, without_paths
from ..core.security import bearer_user
from ..core.db import get_db

bp = Blueprint("api", __name__, url_prefix="/api")


def _refused(status: int, name: str, message: str, code: str):
    result = PhotoCheck(path=name, name=name, error=message, error_code=code)
    return jsonify(result.to_json(names=False)), status


@bp.post("/check")
def check():
    g.user = bearer_user()  # never the session's user
    refused = api_refusal(g.user)  # the same answer the server's gate gives from the headers
    if refused:
        status, code, message = refused
        response = error_response(status, message, code)
        if status == 401:
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="consent"'
        return response
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error_response(400, "Send the photo as the multipart field 'file'.", "no_file")
    channels = [c for c in request.form.getlist("channel") if c and c != "all"] or None
    caption = request.form.get("caption", "")[:2000]
    from consent.register.groups import parse

    groups = parse([v[:500] for v in request.form.getlist("group")][:50]) or None
    place = checked_photos.Place.from_app(current_app)
    name = checked_photos.display_name(upload.filename)
    tmp_root = place.data / "web" / "api"
    tmp_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=tmp_root))
    path = folder / checked_photos.disk_name(upload.filename)
    try:
        upload.save(str(path))
        try:
            caption_probes.guard(get_db(), g.user, caption, name, place.settings)
        except checked_photos.UploadRefused as exc:
            return _refused(exc.status, name, str(exc), exc.code)
        video = is_video(path)
        try:
            if video:  # refused from its header: empty, damaged, sound only, too long, frames too large
                probe(path, place.settings)
            else:
                images.open_image(path, place.settings).close()
        except (ImageTooLarge, VideoTooLarge) as exc:
            return _refused(413, name, without_paths(str(exc).replace(str(path), name)), exc.code)
        except ConsentError as exc:
            return _refused(422 if video else 415, name, without_paths(str(exc).replace(str(path), name)), exc.code)
        run = check_thread.run_video if video else check_thread.run_check
        result = run(place.db_path, place.settings, path, channels=channels, caption=caption, display_name=name,
                     folder="", groups=groups)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.path = name
    if result.error:
        result.error = without_paths(result.error.replace(str(path), name))
        status = 400 if result.error_code in ("unknown_channel", "unknown_group") else 422
        return jsonify(result.to_json(names=False)), status
    from consent.check import for_viewer

    # what this token's role may see, as the web page shows it (no names, consent detail or
    # never-publish flags for office and comms; a caption name found, not whose)
    seen = for_viewer(result, g.user.sees_names)
    return jsonify(seen.to_json(names=g.user.sees_names, admin=g.user.is_admin))
