"""`backbone digest`: a partner's monthly digest, printed (--dry-run) or sent now.

The monthly schedule sends every partner's digest; this command previews one, or sends it outside
the schedule (at most once a month: the month is part of the mail's idempotency key).
"""

from __future__ import annotations

from pathlib import Path

import click

from pipelines.core.terminal import console, err, fail, home_option


@click.command()
@click.option("--partner", "partner_id", required=True, help="Partner id, e.g. riverbend_isd.")
@click.option("--dry-run", is_flag=True, help="Print the mail (text version) instead of sending it.")
@home_option
def digest(partner_id: str, dry_run: bool, home: Path | None) -> None:
    """A partner's monthly digest: its delivery health and the indicators its data feeds."""
    import duckdb

    from pipelines.alerts.digest import compose_digest
    from pipelines.alerts.mail import MailerResource
    from pipelines.alerts.outbox import deliver_queued, enqueue
    from pipelines.core.agenda import AgendaError, load_agenda
    from pipelines.core.clock import utc_now
    from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR, Home, InstanceError
    from pipelines.core.registry import RegistryError, load_registry
    from pipelines.core.suites import SuiteError
    from pipelines.core.warehouse import connect

    try:
        registry = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
    except (RegistryError, SuiteError) as exc:
        fail(str(exc))
    try:
        agenda = load_agenda(AGENDA_FILE, known_datasets=registry.dataset_names)
    except AgendaError as exc:  # the digest still goes out, without the indicators
        err.print(f"[yellow]warning:[/] {exc}; the digest leaves out the shared indicators")
        agenda = None
    partner = registry.partners.get(partner_id)
    if partner is None:
        fail(f"unknown partner '{partner_id}' (known partners: {', '.join(sorted(registry.partners))})")
    paths, mailer, as_of = Home.resolve(home), MailerResource(), utc_now()
    try:
        if dry_run:
            # Read-only, and an empty in-memory database before the first run: a preview changes nothing.
            with duckdb.connect(
                str(paths.warehouse) if paths.warehouse.exists() else ":memory:", read_only=paths.warehouse.exists()
            ) as con:
                mail = compose_digest(con, registry, partner, as_of, mailer.team_address, agenda)
            console.print(f"To: {', '.join(mail.to)}\nCc: {', '.join(mail.cc)}\nSubject: {mail.subject}\n")
            console.print(mail.text, markup=False)
            return
        with connect(paths.ensure().warehouse) as con:
            mail = compose_digest(con, registry, partner, as_of, mailer.team_address, agenda)
            new = enqueue(con, mail, [], at=as_of)
            delivered = deliver_queued(con, mailer, paths.outbox, due_by=as_of)
    except InstanceError as exc:
        fail(str(exc))
    except duckdb.IOException as exc:
        fail(f"the warehouse {paths.warehouse} is busy (a pipeline run is writing it): {exc}")
    if not new:
        console.print(f"{partner.name}'s digest for {as_of:%B %Y} was already queued; nothing new to send.")
    for item in delivered:
        console.print(f"{item.partner}: {item.subject} -> {item.sent_to or 'still queued: ' + str(item.error)}")
