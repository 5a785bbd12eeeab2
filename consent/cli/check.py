"""``consent check``: check photos and folders for one or all channels."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from ..errors import ConsentError

EXIT_OK, EXIT_ERROR, EXIT_REVIEW, EXIT_BLOCK = 0, 1, 3, 4


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--channel", "-c", "channels", multiple=True, default=["all"], show_default=True,
              help="Channel to check for (website, social_media, newsletter, press, or your own); "
                   "repeat for several, or 'all'.")
@click.option("--caption", default="", help="Caption that will be published with the photos.")
@click.option("--alt-text", default="", help="Alt text that will be published with the photos.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write a CSV report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--safe-dir", type=click.Path(file_okay=False), help="Write publication-safe copies here.")
@click.option("--blur-unconsented", is_flag=True,
              help="In the safe copies, obscure every face not cleared for the channels and pupils' names "
                   "written in the picture, then re-check them.")
@click.option("--drop-sound", is_flag=True,
              help="Videos: the safe copies have no sound, so nobody needs to listen for pupils' names.")
@click.option("--group", "-g", "groups", multiple=True, metavar="YEAR_OR_CLASS",
              help="Who can be in the photos: a year group (7, 'Year 7') or class (7B); repeat or "
                   "separate with commas. Faces are compared with those pupils and all staff only, "
                   "so anybody else is 'not recognised'.")
@click.option("--text/--no-text", "text_check", default=None,
              help="Read names written in the picture (badges, books, whiteboards). Default: the "
                   "text_check setting for one photo, text_check_batch for several (both on).")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: all cores).")
@click.option("--db", envvar="CONSENT_DB", type=click.Path(dir_okay=False),
              help="Register database (default: data/consent.db).")
@click.option("--no-register", is_flag=True, help="Check without a register: every face is unknown.")
@click.option("--no-cache", is_flag=True, help="Analyse every photo again, ignoring earlier results.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary line.")
def check(paths, channels, caption, alt_text, json_path, csv_path, html_path, safe_dir, blur_unconsented,
          drop_sound, groups, text_check, workers, db, no_register, no_cache, quiet):
    """Check photos and videos (files or folders, recursively) before publication.

    Each photo gets a verdict per channel: ok, needs sign-off (by a senior colleague), or do
    not publish, with every reason.

    \b
    Exit status:
      0  every photo is ok for every channel checked
      3  some photos need sign-off (and none is "do not publish")
      4  some photos: do not publish
      1  some photos could not be checked (unreadable files), or bad options
    """
    from .. import batch, reports
    from ..check import Checker
    from ..results import VERDICT_WORDS, counts_words
    from ..settings import load

    if drop_sound and not safe_dir:
        raise click.UsageError("--drop-sound is about the safe copies: add --safe-dir DIR")
    if blur_unconsented and not safe_dir:
        raise click.UsageError("--blur-unconsented writes safe copies: add --safe-dir DIR")
    try:
        settings = load()
        if text_check is not None:
            settings = replace(settings, text_check=text_check, text_check_batch=text_check)
        probe = Checker(db, settings, use_register=not no_register, use_cache=False, kit_check=False)
        chans = probe.channels(list(channels))
        from ..register.groups import parse

        groups = parse(groups) or None
        probe.restriction(groups)  # a year group or class nobody has: refused before any photo
    except ConsentError as exc:
        raise click.ClickException(str(exc))
    jobs = batch.collect(paths)
    if not jobs:
        raise click.ClickException("no photos found in " + ", ".join(paths))

    bar = None
    if sys.stderr.isatty() and len(jobs) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="photo", file=sys.stderr, dynamic_ncols=True)

    def progress(done, total, result):
        if not quiet:
            # an error names the file itself (with its folder): not twice
            text = result.summary()
            what = text if result.error and result.name in text else f"{result.name}: {text}"
            line = f"{'[' + VERDICT_WORDS[result.verdict] + ']':<16} {what}"
            (bar.write if bar else click.echo)(line)
        if bar:
            bar.update(1)

    results = batch.run_batch(
        jobs, batch.BatchOptions(chans, caption, safe_dir, blur_unconsented, groups,
                                 drop_sound=drop_sound), db=db, settings=settings,
        workers=workers, progress=progress, use_cache=not no_cache, use_register=not no_register,
    )
    if bar:
        bar.close()
    for path, writer in ((json_path, reports.write_json), (csv_path, reports.write_csv),
                         (html_path, reports.write_html)):
        if path:
            writer(results, path, **({} if writer is reports.write_json else {"settings": settings}))
            click.echo(f"wrote {path}")
    n = batch.counts(results)
    click.echo(counts_words(n, videos=sum(1 for r in results if r.video is not None)))
    if n["error"]:
        sys.exit(EXIT_ERROR)
    if n["block"]:
        sys.exit(EXIT_BLOCK)
    if n["review"]:
        sys.exit(EXIT_REVIEW)
    sys.exit(EXIT_OK)
