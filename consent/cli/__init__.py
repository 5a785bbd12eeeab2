"""The ``consent`` command line: a thin shell over the ``consent`` library.

Sub-commands live in their own modules and are imported only when used, so ``consent --help``
stays fast (face models load only inside commands that detect faces).
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

#: command name -> "module:attribute" (a click command or group)
COMMANDS = {
    "scan": "consent.cli.files:scan",
    "strip": "consent.cli.files:strip",
    "settings": "consent.cli.misc:settings_command",
    "kit": "consent.cli.kit:kit",
    "check": "consent.cli.check:check",
    "register": "consent.cli.register:register",
    # the batch jobs' queue (consent/jobs/): the web app creates the jobs, the workers check them
    "worker": "consent.jobs.batch_queue:worker_command",
    # the key that signs the work the main machine and its workers exchange over Redis
    "worker-key": "consent.cli.worker_key:worker_key",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="consent")
def main():
    """Check school photos against the consent register before they are published.

    \b
    Start with:
      consent register init                   create the register (data/consent.db)
      consent register import pupils.csv      import the MIS export (try --dry-run first)
      consent register enrol UPN photo.jpg    reference face photo (biometric consent first)
      consent check FOLDER -c website         verdicts: ok, needs sign-off or do not publish
      consent check FOLDER --safe-dir safe/   ... and publication-safe copies
      consent scan PHOTO                      what identifying metadata a photo carries
      consent strip PATH --out DIR            safe copies without checking faces
      consent worker                          check the web app's batch jobs (python -m web starts it)

    Every command has --help. The data folder is ./data (CONSENT_DATA to change).
    """


if __name__ == "__main__":  # pragma: no cover
    main()
