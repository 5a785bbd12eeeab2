"""``consent register ...``: the consent register from the command line.

A thin shell over :mod:`consent.register`, :mod:`consent.register.mis`, :mod:`consent.register.enrolment` and
:mod:`consent.register.housekeeping`. PERSON is a MIS id (UPN or admission number), ``#id``, or an
unambiguous name. Every change is audited as ``--by`` (default: your user name). Errors are one
line and exit status 1.
"""

from __future__ import annotations

import json
import sys

import click

from ..errors import ConsentError

STATUS_WORDS = {"grant": "granted", "refuse": "refused", "withdraw": "withdrawn"}


class _RegisterGroup(click.Group):
    """Turns any :class:`ConsentError` from a sub-command into a one-line error, exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConsentError as exc:
            raise click.ClickException(str(exc)) from None


class _Context:
    def __init__(self, db, by):
        self.db = db
        self.by = by
        self._register = None
        self._settings = None

    @property
    def settings(self):
        if self._settings is None:
            from ..settings import load

            self._settings = load()
        return self._settings

    def register(self, create: bool = False):
        if self._register is None:
            from ..register import Register

            self._register = Register(self.db, settings=self.settings, create=create,
                                      user=self.by)
            click.get_current_context().call_on_close(self._register.close)
        return self._register


pass_ctx = click.make_pass_decorator(_Context)


def _date(value, what="date"):
    from ..register import as_date

    return as_date(value, what)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group("register", cls=_RegisterGroup)
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Register database (default: $CONSENT_DB or data/consent.db).")
@click.option("--by", default=None, help="Who the changes are recorded as (default: your user name).")
@click.pass_context
def register(ctx, db, by):
    """People, consent per channel, face templates and the audit log.

    \b
    Start with:
      consent register init
      consent register import pupils.csv --dry-run
      consent register consent A123456789012 website grant --until 31/08/2026
      consent register enrol-folder photos/
      consent register reencode kept-photos/   (after a face model change)
    """
    ctx.obj = _Context(db, by)


@register.command()
@pass_ctx
def init(obj):
    """Create the register (or bring an existing one up to date)."""
    from pathlib import Path

    from ..register import default_path

    existed = Path(obj.db or default_path()).exists()
    reg = obj.register(create=True)
    state = "is up to date" if existed else "created"
    click.echo(f"register {reg.path} {state} (schema: {', '.join(reg.schema())}; "
               f"version {reg.version()})")


@register.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--staff", is_flag=True, help="The file is a staff list (people are staff).")
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD",
              help="Read COLUMN into FIELD (mis_id, legal_forename, legal_surname, "
                   "preferred_forename, preferred_surname, year_group, form, left_on, a channel "
                   "name, or ignore). Repeatable.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--until", "until", default=None, metavar="DATE",
              help="Expiry date for consents granted by this import (e.g. 31/08/2026).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def import_command(obj, file, staff, maps, dry_run, until, as_json):
    """Import an MIS export (CSV): upsert by MIS id; blank consent cells change nothing."""
    from ..register.mis import import_csv, parse_mapping

    result = import_csv(obj.register(), file, staff=staff, mapping=parse_mapping(maps),
                        dry_run=dry_run, consent_until=_date(until, "--until"), by=obj.by)
    if as_json:
        _echo_json(result.to_json())
        return
    click.echo("columns: " + ", ".join(f"{h} -> {f}" for h, f in result.columns.items()))
    if result.ignored_columns:
        click.echo("not read: " + ", ".join(result.ignored_columns))
    for row in result.rows:
        if row.outcome == "rejected":
            click.echo(f"  line {row.line}: REJECTED: {row.reason}")
        elif dry_run and row.outcome != "unchanged":
            bits = [f"{k} {v[0]!r} -> {v[1]!r}" if isinstance(v, tuple) else f"{k} {v!r}"
                    for k, v in row.changes.items() if k != "mis_id"]
            bits += [f"{c.channel} {c.before} -> {c.after}" for c in row.consent]
            click.echo(f"  line {row.line}: {row.mis_id} {row.name}: {row.outcome}: "
                       + "; ".join(bits))
    if result.not_in_file and len(result.not_in_file) <= 20:
        click.echo("on roll but not in the file: " + ", ".join(result.not_in_file))
    elif result.not_in_file:
        click.echo(f"{len(result.not_in_file)} people on roll are not in the file")
    click.echo(("dry run: " if dry_run else "") + result.summary())


@register.command()
@click.argument("mis_id")
@click.argument("forename")
@click.argument("surname")
@click.option("--preferred", "preferred_forename", default=None, help="Preferred first name.")
@click.option("--preferred-surname", default=None, help="Preferred surname.")
@click.option("--year", "year_group", default=None, help="Year group (e.g. 7, R).")
@click.option("--form", default=None, help="Form / registration group / class.")
@click.option("--staff", is_flag=True, help="A member of staff rather than a pupil.")
@pass_ctx
def add(obj, mis_id, forename, surname, preferred_forename, preferred_surname, year_group, form,
        staff):
    """Add one pupil (or member of staff with --staff) by MIS id and legal names."""
    person = obj.register().add_person(
        mis_id, forename, surname, role="staff" if staff else "pupil",
        preferred_forename=preferred_forename, preferred_surname=preferred_surname,
        year_group=year_group, form=form, by=obj.by,
    )
    click.echo(f"added {person.label}")


def _print_enrolment(results) -> int:
    refused = 0
    for r in results:
        if r.status == "enrolled":
            click.echo(f"enrolled  {r.path}: {r.person} (quality {r.quality:.2f})")
        elif r.status == "already_enrolled":
            click.echo(f"already   {r.path}: {r.person}")
        else:
            refused += 1
            hint = " (if you are sure, for twins: enrol it with --force)" if r.overridable else ""
            click.echo(f"REFUSED   {r.path}: {r.reason}{hint}")
    return refused


@register.command()
@click.argument("person")
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Skip the check that the face is not someone else's (twins).")
@pass_ctx
def enrol(obj, person, photos, force):
    """Enrol PERSON's face from PHOTO(s): one clear face each; needs biometric consent."""
    from ..register.enrolment import enrol as do_enrol

    results = do_enrol(obj.register(), person, photos, settings=obj.settings, force=force,
                       by=obj.by)
    refused = _print_enrolment(results)
    click.echo(f"{len(results) - refused} of {len(results)} photos enrolled or already enrolled")
    if refused:
        sys.exit(1)


@register.command("enrol-folder")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--force", is_flag=True,
              help="Skip the check that each face is not someone else's (twins).")
@pass_ctx
def enrol_folder(obj, folder, force):
    """Enrol every photo in FOLDER, named by MIS id (A123456789012.jpg, A123456789012_2.jpg)."""
    from ..register.enrolment import enrol_folder as do_enrol_folder

    results = do_enrol_folder(obj.register(), folder, settings=obj.settings, force=force,
                              by=obj.by, progress=lambda r: _print_enrolment([r]))
    done = sum(r.status == "enrolled" for r in results)
    already = sum(r.status == "already_enrolled" for r in results)
    refused = len(results) - done - already
    click.echo(f"{len(results)} photos: {done} enrolled, {already} already enrolled, "
               f"{refused} refused")
    if refused:
        sys.exit(1)


@register.command("reencode")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def reencode(obj, folder, as_json):
    """Encode again, with the new face model, the enrolment photos kept in FOLDER.

    A photo (in FOLDER or below) is used when it is the very file someone was enrolled from
    with the old face model; other photos are ignored. People whose photos are not found
    still need a new photo: they are listed, and their faces show as not recognised until
    they are enrolled again. Exit status 1 while anyone still needs a new photo.
    """
    from ..register.enrolment import reencode as do_reencode
    from ..vision.faces import RECOGNISER

    def show(r):
        if as_json:
            return
        if r.status == "enrolled":
            click.echo(f"re-encoded  {r.path}: {r.person}")
        elif r.status == "already_enrolled":
            click.echo(f"already     {r.path}: {r.person}")
        else:
            click.echo(f"REFUSED     {r.path}: {r.reason}")

    outcome = do_reencode(obj.register(), folder, settings=obj.settings, by=obj.by, progress=show)
    if as_json:
        _echo_json(outcome.to_json())
    else:
        matched = outcome.photos - outcome.unmatched
        click.echo(f"{outcome.photos} photo{'' if outcome.photos == 1 else 's'}: {matched} kept "
                   f"enrolment photo{'' if matched == 1 else 's'}, {outcome.unmatched} ignored "
                   "(not a photo anyone was enrolled from)")
        n = len(outcome.reencoded)
        click.echo(f"{n} {'person' if n == 1 else 'people'} re-encoded with the new face model "
                   f"({RECOGNISER})")
        still = outcome.still_need
        if still:
            click.echo(f"{len(still)} {'person still needs' if len(still) == 1 else 'people still need'} "
                       "a new photo (enrolled with the old face model; their faces show as not "
                       "recognised until then):")
            for p in still:
                click.echo(f"  {p.display_name} ({p.mis_id})")
            click.echo("Enrol a photo of each: consent register enrol MIS_ID photo.jpg")
        else:
            click.echo("Nobody needs a new photo.")
    if outcome.still_need or outcome.refused:
        sys.exit(1)


@register.command("consent")
@click.argument("person")
@click.argument("channel")
@click.argument("action", type=click.Choice(["grant", "refuse", "withdraw"]))
@click.option("--until", default=None, metavar="DATE", help="Last day a grant is valid.")
@click.option("--note", default=None, help="A note kept with the record.")
@click.option("--source", default="admin", show_default=True,
              help="Where it came from: 'paper form', 'MIS import', 'admin', ...")
@click.option("--date", "recorded_on", default=None, metavar="DATE",
              help="Date of the form (default today; a withdrawal always takes effect now).")
@pass_ctx
def consent_command(obj, person, channel, action, until, note, source, recorded_on):
    """Record consent: PERSON CHANNEL grant|refuse|withdraw (channel 'biometric' for faces)."""
    reg = obj.register()
    who = reg.find_person(person)
    state = reg.record_consent(who, channel, STATUS_WORDS[action], until=until, note=note,
                               source=source, recorded_on=recorded_on, by=obj.by)
    extra = f" until {state.until}" if state.until else ""
    click.echo(f"{who.label}: {reg.channel(channel).label} consent {state.status}{extra}")
    if channel.strip().lower() == "biometric" and action != "grant":
        click.echo("face templates deleted: they are not enrolled")


@register.command()
@click.argument("person")
@click.option("--admin", is_flag=True, help="Also show the never-publish reason (admins only).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def show(obj, person, admin, as_json):
    """Everything about PERSON: details, consent per channel, enrolment, history."""
    from ..vision.faces import RECOGNISER

    reg = obj.register()
    p = reg.find_person(person, admin=admin)
    states = reg.consent_states(p.id, include_biometric=True)
    templates = reg.templates(p.id)
    if as_json:
        _echo_json({"person": p.to_json(admin=admin),
                    "consent": {c: s.to_json() for c, s in states.items()},
                    "enrolled": reg.enrolled(p.id), "templates": len(templates),
                    "enrolment": reg.enrolment_strength(p.id).to_json()})
        return
    click.echo(p.label)
    click.echo(f"  legal name: {p.legal_forename} {p.legal_surname}; role: {p.role}; "
               + ("on roll" if p.on_roll() else f"left {p.left_on}"))
    if p.never_publish:
        reason = f" ({p.never_publish_reason})" if admin else " (reason: admins only, --admin)"
        click.echo(f"  NEVER PUBLISH since {p.never_publish_since}{reason}")
    labels = {c.name: c.label for c in reg.channels(include_biometric=True)}
    for ch, s in states.items():
        since = f" since {s.since}" if s.since else ""
        until = f" until {s.until}" if s.until else ""
        source = f" ({s.source})" if s.source else ""
        click.echo(f"  {labels.get(ch, ch):<30} {s.status}{since}{until}{source}")
    strength = reg.enrolment_strength(p.id)
    if strength.photos:
        newest = max(t.enrolled_on for t in templates if t.model == RECOGNISER)
        agreement = f"; {strength.agreement}" if strength.agreement else ""
        click.echo(f"  enrolled: {strength.photos} face template(s), newest {newest}{agreement}")
    elif not templates:
        click.echo("  not enrolled (no face templates): faces will show as unknown")
    click.echo(f"  face recognition: {strength.label}")


@register.command("list")
@click.option("--year", default=None, help="Year group (7, R, ...).")
@click.option("--form", default=None, help="Form / registration group.")
@click.option("--channel", default=None, help="Show (and with --status filter by) this channel.")
@click.option("--status", default=None,
              type=click.Choice(["granted", "refused", "withdrawn", "expired", "missing",
                                 "not_granted"]),
              help="With --channel: only people whose consent is in this state.")
@click.option("--staff", "role", flag_value="staff", default=None, help="Staff only.")
@click.option("--pupils", "role", flag_value="pupil", help="Pupils only.")
@click.option("--left", "roll", flag_value="left", default=None, help="Leavers only.")
@click.option("--on-roll", "roll", flag_value="on", help="People on roll only.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def list_command(obj, year, form, channel, status, role, roll, as_json):
    """List people, filtered by year, form, role and consent state."""
    if status and not channel:
        raise click.ClickException("--status needs --channel (e.g. --channel website --status withdrawn)")
    reg = obj.register()
    people = reg.people(year=year, form=form, role=role, channel=channel, status=status,
                        on_roll={"on": True, "left": False}.get(roll))
    chans = [reg.channel(channel).name] if channel else reg.channel_names()
    states = reg.consent_states_many([p.id for p in people], channels=chans)
    if as_json:
        _echo_json([{**p.to_json(), "consent": {c: s.status for c, s in states[p.id].items()}}
                    for p in people])
        return
    for p in people:
        cells = " ".join(f"{c}={s.status}" for c, s in states[p.id].items())
        flag = " NEVER-PUBLISH" if p.never_publish else ""
        click.echo(f"{p.label}: {cells}{flag}")
    click.echo(f"{len(people)} {'person' if len(people) == 1 else 'people'}")


@register.command()
@click.option("--since", required=True, metavar="DATE", help="From this date on.")
@pass_ctx
def withdrawals(obj, since):
    """Consent withdrawn since DATE (newest first), each with the published photos it means
    taking down (see 'consent register takedowns')."""
    from ..register import publications

    reg = obj.register()
    rows = reg.withdrawals(since)
    open_items = publications.takedowns(reg, obj.settings) if rows else []
    for person, record in rows:
        click.echo(f"{record.recorded_on}  {person.label}: {record.channel} withdrawn "
                   f"(by {record.recorded_by}, {record.source})")
        caused = publications.for_withdrawal(open_items, person.id, record.channel)
        for item in caused:
            click.echo(f"    take down: {_takedown_line(item)}")
        if not caused:
            click.echo("    no photo to take down")
    click.echo(f"{len(rows)} withdrawal{'s' if len(rows) != 1 else ''} since {_date(since)}")


def _takedown_line(item, admin: bool = False) -> str:
    p = item.publication
    line = (f"#{p.id} {p.photo_name} on {p.channel}: {item.change.because}; {item.words}; "
            f"{item.link or 'no link recorded'}; by {p.published_by} at {p.published_at}")
    if admin and item.change.admin_detail:
        line += f" [admins only: {item.change.admin_detail}]"
    return line


@register.command()
@click.option("--done", "done_id", type=int, default=None, metavar="ID",
              help="Mark publication ID as taken down (recorded as --by, now).")
@click.option("--on", "on", default=None, metavar="DATE",
              help="The list as it will be on DATE (consent end dates passing), default today.")
@click.option("--admin", is_flag=True, help="Show admin-only detail (never-publish reasons, names).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def takedowns(obj, done_id, on, admin, as_json):
    """Photos out on a channel that are no longer OK there: take each down, then mark it.

    A withdrawal, refusal, never-publish flag, purge or consent end date that has passed puts a
    photo here without anyone acting. One line per photo and channel: published (marked
    "published" in the web app, or confirmed when downloading it), or copies downloaded and not
    marked published. --done marks every record of that photo on that channel.
    """
    from ..register import publications

    reg = obj.register()
    if done_id is not None:
        pub = publications.mark_taken_down(reg, done_id, by=obj.by or reg.user)
        click.echo(f"#{pub.id} {pub.photo_name} on {pub.channel}: marked taken down by "
                   f"{pub.taken_down_by} at {pub.taken_down_at}")
        return
    items = publications.takedowns(reg, obj.settings, on=_date(on) if on else None)
    if as_json:
        _echo_json([t.to_json(admin=admin) for t in items])
        return
    for item in items:
        click.echo(_takedown_line(item, admin))
    click.echo(f"{len(items)} photo{'s' if len(items) != 1 else ''} to take down")


@register.command("never-publish")
@click.argument("person")
@click.option("--reason", default=None, help="Why (admins only see it): looked-after, court order...")
@click.option("--clear", is_flag=True, help="Remove the flag.")
@pass_ctx
def never_publish(obj, person, reason, clear):
    """Flag PERSON never to be published on any channel (or --clear it)."""
    if bool(reason) == bool(clear):
        raise click.ClickException("give either --reason TEXT or --clear")
    reg = obj.register()
    if clear:
        p = reg.clear_never_publish(person, by=obj.by)
        click.echo(f"{p.label}: never-publish flag cleared; consent per channel applies again")
    else:
        p = reg.set_never_publish(person, reason, by=obj.by)
        click.echo(f"{p.label}: never publish on any channel")


@register.group(invoke_without_command=True)
@click.pass_context
def channels(ctx):
    """List channels, or add one: channels add NAME [--label TEXT]."""
    if ctx.invoked_subcommand is None:
        _print_channels(ctx.find_object(_Context).register())


@channels.command("list")
@pass_ctx
def channels_list(obj):
    """List the channels."""
    _print_channels(obj.register())


def _print_channels(reg) -> None:
    for ch in reg.channels(include_biometric=True):
        kind = " (biometric: face recognition)" if ch.kind == "biometric" else ""
        own = "" if ch.builtin else " (added)"
        click.echo(f"{ch.name:<20} {ch.label}{kind}{own}")


@channels.command("add")
@click.argument("name")
@click.option("--label", default=None, help="How the channel is shown (default from NAME).")
@pass_ctx
def channels_add(obj, name, label):
    """Add a publication channel, e.g. prospectus."""
    ch = obj.register().add_channel(name, label, by=obj.by)
    click.echo(f"added channel {ch.name} ({ch.label}); nobody has consent for it yet")


@register.command()
@click.option("--left-before", required=True, metavar="DATE",
              help="Purge people whose leaving date is before this date.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only list who would be purged.")
@pass_ctx
def purge(obj, left_before, yes, dry_run):
    """Delete leavers' personal data and face templates for good (the audit keeps a trace)."""
    from ..register.housekeeping import purge_leavers

    reg = obj.register()
    plan = purge_leavers(reg, left_before, dry_run=True, by=obj.by)
    if not plan.people:
        click.echo(f"nobody left before {plan.left_before}: nothing to purge")
        return
    for label in plan.people:
        click.echo(f"  {label}")
    click.echo(f"{len(plan.people)} people, {plan.templates} face templates and {plan.consents} "
               "consent records")
    if dry_run:
        return
    if not yes and not click.confirm("Delete them for good?", default=False):
        click.echo("nothing purged")
        return
    done = purge_leavers(reg, left_before, by=obj.by)
    click.echo(f"purged {len(done.people)} people ({done.templates} face templates, "
               f"{done.consents} consent records deleted)")


@register.command()
@click.argument("person")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default: print).")
@pass_ctx
def export(obj, person, out):
    """Everything held about PERSON as JSON (subject access request)."""
    from ..register.housekeeping import export_person, write_json_atomic

    data = export_person(obj.register(), person)
    if out:
        write_json_atomic(data, out)
        click.echo(f"wrote {out}")
    else:
        _echo_json(data)


@register.command()
@click.argument("file", type=click.Path())
@pass_ctx
def backup(obj, file):
    """Copy the register to FILE (safe while the server is running)."""
    from ..register.housekeeping import backup as do_backup

    path = do_backup(obj.register(), file)
    click.echo(f"backed up the register to {path}")
    click.echo("Note: a backup is the documented exception to deletion. It keeps everyone in the "
               "register today, even after they are purged or withdraw consent; keep it locked "
               "away and delete it when your retention period ends (docs/operations.md).")


@register.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def restore(obj, file, yes):
    """Replace the register with the backup FILE (the current one is kept beside it)."""
    from ..register.housekeeping import check_backup, restore as do_restore

    people = check_backup(file)
    reg = obj.register(create=True)
    if not yes and not click.confirm(
        f"Replace the register {reg.path} with {file} ({people} people)?", default=False
    ):
        click.echo("nothing restored")
        return
    result = do_restore(reg, file, by=obj.by)
    click.echo(f"restored {result.people} people from {file}; the register as it was is kept "
               f"as {result.previous_copy}")


@register.command()
@click.option("--since", default=None, metavar="DATE", help="From this date on.")
@click.option("--person", default=None, help="About this person only.")
@click.option("--action", default=None, help="Only this kind of change (consent, person, template...).")
@click.option("--limit", type=int, default=None, help="Only the newest N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def audit(obj, since, person, action, limit, as_json):
    """The audit log: who changed what, when, before and after."""
    entries = obj.register().audit(since=since, person=person, action=action, limit=limit)
    if as_json:
        _echo_json([e.to_json() for e in entries])
        return
    for e in entries:
        who = f" {e.person_label}" if e.person_label else ""
        detail = " [detail removed at purge]" if e.redacted else _change_text(e.before, e.after)
        click.echo(f"{e.at}  {e.by}  {e.action}{who}{detail}")
    click.echo(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")


def _change_text(before, after) -> str:
    if after is None:
        return ""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after.get(k)]
        return ": " + ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in keys)
    return ": " + json.dumps(after, ensure_ascii=False, default=str)


@register.command("templates-due")
@click.option("--max-age-days", type=int, default=None,
              help="Age at which templates are due (default: settings.template_max_age_days).")
@click.option("--delete-lapsed", is_flag=True,
              help="Delete the templates of people whose biometric consent has expired.")
@pass_ctx
def templates_due(obj, max_age_days, delete_lapsed):
    """People whose face templates are old enough to re-enrol (children's faces change), and
    templates kept after biometric consent expired."""
    reg = obj.register()
    due = reg.templates_due(max_age_days)
    for d in due:
        click.echo(f"{d.person.label}: newest template {d.newest_enrolled_on} ({d.age_days} days)")
    age = reg.settings.template_max_age_days if max_age_days is None else max_age_days
    click.echo(f"{len(due)} {'person' if len(due) == 1 else 'people'} due for re-enrolment "
               f"(templates older than {age} days)")
    if delete_lapsed:
        n = reg.delete_lapsed_templates(by=obj.by)
        click.echo(f"deleted {n} face template{'s' if n != 1 else ''} whose biometric consent "
                   "had expired")
        return
    need = reg.needs_new_photo()
    for p in need:
        click.echo(f"{p.label}: needs a new photo (enrolled with the old face model)")
    if need:
        click.echo(f"{len(need)} {'person needs' if len(need) == 1 else 'people need'} a new photo; "
                   "if the enrolment photos were kept: consent register reencode FOLDER")
    lapsed = reg.lapsed_templates()
    for p in lapsed:
        click.echo(f"{p.label}: biometric consent expired; templates unused (--delete-lapsed)")
