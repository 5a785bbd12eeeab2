"""``consent worker-key``: the key the main machine and its analysis workers sign work with.

Needed only with a Redis queue (``CONSENT_QUEUE``), where photos and analyses travel through a
server that others on the network may reach (``consent.jobs.signing``; docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from consent.jobs import signing


@click.group("worker-key")
def worker_key():
    """Make or show the worker key (only with a Redis queue: CONSENT_QUEUE)."""


@worker_key.command("create")
@click.option("--replace", is_flag=True, help="Replace the key there is (every worker then needs the new copy).")
def create(replace):
    """Make a new worker key: data/worker.key (or CONSENT_WORKER_KEY_FILE), readable by its owner only."""
    path = signing.key_path()
    try:
        key = signing.create_key(path, replace=replace)
    except signing.WorkerKeyMissing as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the worker key {path} ({exc.strerror})") from None
    shown = path.resolve()
    click.echo(f"worker key {signing.key_id(key)} written to {shown} (readable by its owner only)")
    click.echo("")
    click.echo("The web server and 'consent worker' on this machine use it from there. On each machine that runs")
    click.echo("'consent worker --remote', copy it so that only the worker's user can read it, for example:")
    click.echo(f"    scp -p {shown} worker-machine:consent-worker.key")
    click.echo("    ssh worker-machine chmod 600 consent-worker.key")
    click.echo("and start the worker with CONSENT_WORKER_KEY_FILE=$HOME/consent-worker.key set.")
    click.echo("Check a copy with 'consent worker-key id' there: it prints " + signing.key_id(key) + ".")
    if replace:
        click.echo("Restart the web server and every worker: work signed with the old key is refused.")


@worker_key.command("id")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def show_id(path):
    """Print the key's id (the same on every machine holding the same key; gives nothing of it away)."""
    try:
        key = signing.load_key(path)
    except signing.WorkerKeyMissing as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(signing.key_id(key))
