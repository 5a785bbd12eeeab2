"""Small commands: ``consent settings``."""

from __future__ import annotations

import json

import click

from ..errors import ConsentError
from .. import settings as settings_mod


@click.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="Settings file to read (default: data/settings.toml).")
def settings_command(as_json, path):
    """Print the thresholds in force (defaults overridden by settings.toml), and any that weaken
    a safety check compared with its default."""
    try:
        current = settings_mod.load(path)
    except ConsentError as exc:
        raise click.ClickException(str(exc))
    values = current.as_dict()
    weaker = {w.name for w in settings_mod.weakened(current)}
    if as_json:
        click.echo(json.dumps({**values, "weakened": sorted(weaker)}, indent=2))
        return
    width = max(map(len, values))
    for key, value in values.items():
        if isinstance(value, tuple):
            value = ", ".join(value)
        marker = "" if getattr(settings_mod.DEFAULTS, key) == getattr(current, key) else "  (changed)"
        if key in weaker:
            marker = "  (changed; weakens a check)"
        click.echo(f"{key:<{width}}  {value}{marker}")
    if weaker:
        click.echo("\n" + settings_mod.weakened_words(current))
