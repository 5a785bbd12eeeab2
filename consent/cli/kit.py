"""``consent kit``: teach the tool the school's PE kit and everyday uniform colours.

The kit check works without this; a learned profile adds the signal "colours match the school
PE kit" and keeps pupils in the everyday uniform from matching.
"""

from __future__ import annotations

import click

from ..errors import ConsentError

KIND_WORDS = {"pe": "PE kit", "uniform": "everyday uniform"}


def _settings():
    from .. import settings as settings_mod

    try:
        return settings_mod.load()
    except ConsentError as exc:
        raise click.ClickException(str(exc))


def _load_profile():
    from ..vision import kit as kit_mod

    try:
        return kit_mod.load_profile()
    except ConsentError as exc:
        raise click.ClickException(str(exc))


@click.group("kit")
def kit():
    """The school's PE kit and uniform colours, for the PE-kit check.

    \b
      consent kit learn FOLDER --as pe        learn the PE kit from example photos
      consent kit learn FOLDER --as uniform   learn the everyday uniform
      consent kit show                        what has been learned
      consent kit forget                      forget it (the check still runs without it)
    """


@kit.command("learn")
@click.argument("folder", type=click.Path(exists=True))
@click.option("--as", "kind", type=click.Choice(["pe", "uniform"]), required=True,
              help="What the photos show: the PE kit or the everyday uniform.")
def learn_command(folder, kind):
    """Learn the colours of the PE kit or uniform from example photos in FOLDER.

    Use a handful of photos of pupils wearing it (or of the kit laid out). Learning again
    replaces what was learned for that kind. Only colours are kept, no faces.
    """
    from ..vision import kit as kit_mod
    from ..images import find_images

    settings = _settings()
    paths = [p for p, _ in find_images([folder])]
    if not paths:
        raise click.ClickException(f"{folder}: no photos found (JPEG, PNG, WebP, TIFF or HEIC)")
    profile = _load_profile()

    def skipped(path, message):
        click.echo(f"skipped: {message}", err=True)

    try:
        profile = kit_mod.learn(paths, kind, settings=settings, profile=profile, on_skip=skipped)
        where = kit_mod.save_profile(profile)
    except ConsentError as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(f"{kit_mod.profile_path()}: cannot save the kit profile ({exc.strerror})")
    used = profile.examples.get(kind, 0)
    click.echo(f"Learned the school {KIND_WORDS[kind]} from {used} of {len(paths)} photos; saved in {where}.")
    if kind == "pe" and not profile.has("uniform"):
        click.echo("Tip: also learn the everyday uniform (--as uniform) so pupils in uniform never match the PE kit.")


@kit.command("show")
def show_command():
    """Show what has been learned about the school kit."""
    from ..vision import kit as kit_mod

    profile = _load_profile()
    if profile is None or not (profile.has("pe") or profile.has("uniform")):
        click.echo("No school kit learned: the PE-kit check uses the scene, skin and words only.")
        click.echo("Teach it with: consent kit learn FOLDER --as pe")
        return
    for kind in kit_mod.KINDS:
        if not profile.has(kind):
            click.echo(f"{KIND_WORDS[kind]}: not learned")
            continue
        n = profile.examples.get(kind, 0)
        click.echo(f"{KIND_WORDS[kind]} (from {n} photo{'s' if n != 1 else ''}):")
        for region, sig in profile.signatures[kind].items():
            click.echo(f"  {region:<6} {', '.join(kit_mod.colour_names(sig)) or 'mixed colours'}")


@kit.command("forget")
@click.option("--kind", type=click.Choice(["pe", "uniform"]), default=None,
              help="Forget only the PE kit or only the uniform (default: both).")
def forget_command(kind):
    """Forget the learned school kit (the check carries on without it)."""
    from ..vision import kit as kit_mod

    try:
        forgotten = kit_mod.forget_profile(kind)
    except ConsentError as exc:
        raise click.ClickException(str(exc))
    what = KIND_WORDS[kind] if kind else "school kit"
    click.echo(f"Forgot the {what}." if forgotten else f"No {what} was learned; nothing to forget.")
