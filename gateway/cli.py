"""``rathaus-gateway``: serve, work, migrate, inspect cases, replay, check the catalog, demo."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway
    from gateway.events.audit_verify import Pending

from gateway.config import Settings
from gateway.errors import GatewayError

app = typer.Typer(help="Integration gateway of a municipal Digitales Rathaus.", no_args_is_help=True)
cases_app = typer.Typer(help="Inspect cases.", no_args_is_help=True)
catalog_app = typer.Typer(help="Service catalog and mappings.", no_args_is_help=True)
replay_app = typer.Typer(help="Quarantine and dead letters: list and replay.", no_args_is_help=True)
schema_app = typer.Typer(help="Published schemas.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 clients of the API.", no_args_is_help=True)
blobs_app = typer.Typer(help="The blob store (originals, attachments, uploads).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log's hash chains: verify them, export their heads, seal new entries.",
                        no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(catalog_app, name="catalog")
app.add_typer(replay_app, name="replay")
app.add_typer(schema_app, name="schema")
app.add_typer(clients_app, name="clients")
app.add_typer(blobs_app, name="blobs")
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="Encryption of personal data at rest: master and data keys.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of personal data: raw originals, messages never taken in, closed cases.",
                            no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(retention_app, name="retention")


def _settings() -> Settings:
    """The settings, or exit 2 with pydantic's explanation (no traceback) when they are wrong."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            typer.secho(f"error in settings at {where}: {error['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def _gateway() -> Gateway:
    from gateway.bootstrap import Gateway

    try:
        return Gateway.create(_settings())
    except GatewayError as exc:
        typer.secho(f"error: {exc.detail}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, worker: Annotated[bool, typer.Option(
        help="also start a worker process beside the API (default: settings.serve_worker)")] = True,
          processes: Annotated[int, typer.Option(help="API processes")] = 1) -> None:
    """Serve the HTTP API and, by default, a worker process beside it."""
    from gateway import server

    settings = Settings()
    server.serve(settings, host, port, with_worker=worker and settings.serve_worker, processes=processes)


@app.command()
def worker(parent_pid: Annotated[int | None, typer.Option(
        help="stop once this process is gone (set by `serve` and `up` for their worker)")] = None) -> None:
    """Run the worker: poll channels, process intake jobs, deliver the outbox."""
    from gateway.logs import setup as logs
    from gateway.metrics import directory as metrics_directory

    settings = _settings()
    logs.configure(settings.log_level, "worker")
    metrics_directory.use(settings.metrics_dir, clear=False)  # beside the API's counts (`serve` empties it)
    gateway = _gateway()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if parent_pid is not None:
        threading.Thread(target=_stop_without_parent, args=(parent_pid, stop), daemon=True).start()
    logging.getLogger("gateway.worker").info("worker %s started (%s profile)", gateway.worker.id,
                                             gateway.settings.profile)
    gateway.worker.run(stop)
    gateway.close()


def _stop_without_parent(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:  # re-parented: the API process that started us is gone
            stop.set()


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest revision."""
    from gateway.migrations import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url)
    typer.echo("schema is at the newest revision")


@cases_app.command("list")
def cases_list(status: str | None = None, tenant: str | None = None, limit: int = 20) -> None:
    from gateway.store import case_repo

    gateway = _gateway()
    with gateway.db.reading() as conn:
        rows = case_repo.list_cases(conn, case_repo.CaseFilter(
            tenants=[tenant] if tenant else None, status=status, limit=limit))
    for _, case in rows:
        typer.echo(f"{case.reference}  {case.id}  {case.status.value:<11}  {case.service.leika}  "
                   f"{case.source.channel:<10}  {case.service.name}")
    typer.echo(f"{len(rows)} case(s)")


@cases_app.command("show")
def cases_show(case_id: str) -> None:
    """Print a case with its data (the view is audited)."""
    from gateway.events import audit

    gateway = _gateway()
    try:
        case = gateway.cases.get(case_id, None)
    except GatewayError as exc:
        typer.secho(exc.detail, fg="red", err=True)
        raise typer.Exit(1) from None
    with gateway.db.transaction() as uow:
        audit.record(uow.conn, at=gateway.clock(), actor="cli", action="cli.case_viewed", tenant_ars=case.tenant.ars,
                     case_id=str(case.id), details={"reference": case.reference})
    typer.echo(case.model_dump_json(indent=2))


@replay_app.command("list")
def replay_list() -> None:
    """Show quarantined and dead inbox entries and dead outbox deliveries, with reasons."""
    from gateway.events import audit
    from gateway.store import inbox_repo, outbox_repo

    gateway = _gateway()
    with gateway.db.transaction() as uow:
        entries = inbox_repo.list_by_state(uow.conn, ["quarantined", "dead"], 500)
        dead = outbox_repo.list_state(uow.conn, "dead", 500)
        audit.record_views(uow.conn, at=gateway.clock(), actor="cli", action="cli.inbox_listed",
                           shown=[(entry.tenant_ars, entry.id) for entry in entries],
                           details={"states": ["quarantined", "dead"]})
    for entry in entries:
        error = entry.last_error or {}
        purged = "  (original purged: not replayable)" if entry.purged else ""
        typer.echo(f"inbox  {entry.id}  {entry.state:<11}  {entry.channel:<10}  {error.get('type', '')}  "
                   f"{error.get('detail', '')}{purged}")
    for row in dead:
        typer.echo(f"outbox {row.id}  dead  {row.kind}->{row.target}  {row.last_error}")
    typer.echo(f"{len(entries)} inbox entr(y/ies), {len(dead)} dead deliver(y/ies)")


@replay_app.command("inbox")
def replay_inbox(inbox_id: str) -> None:
    from gateway.errors import OriginalPurged

    gateway = _gateway()
    try:
        replayed = gateway.pipeline.replay(inbox_id, "cli")
    except OriginalPurged as exc:
        typer.secho(f"not replayable: {exc.detail}", fg="red", err=True)
        raise typer.Exit(1) from None
    if not replayed:
        typer.secho("no quarantined or dead inbox entry with that id", fg="red", err=True)
        raise typer.Exit(1)
    done = gateway.worker.run_until_idle()
    typer.echo(f"replayed; now {gateway.pipeline.outcome(inbox_id).state} ({done} step(s) done)")


@replay_app.command("outbox")
def replay_outbox(row_id: int) -> None:
    gateway = _gateway()
    with gateway.db.transaction() as uow:
        if not gateway.dispatcher.revive(uow.conn, row_id, gateway.clock(), "cli"):
            typer.secho("no dead outbox entry with that id", fg="red", err=True)
            raise typer.Exit(1)
    typer.echo(f"delivery {row_id} queued again")


@catalog_app.command("check")
def catalog_check() -> None:
    """Validate catalog, mappings and every mapping's fixtures."""
    from gateway.checks import check_catalog

    problems = check_catalog(_settings())
    for problem in problems:
        typer.secho(problem, fg="red", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("catalog, mappings and fixtures are consistent")


@schema_app.command("export")
def schema_export(check: bool = False) -> None:
    """Write schemas/case/case-v1.schema.json from the model (--check: fail if it differs)."""
    from gateway.case import schema_export as export

    if check:
        if export.SCHEMA_PATH.read_text(encoding="utf-8") != export.render():
            typer.secho("schemas/case is out of date: run `rathaus-gateway schema export`", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo("schema is up to date")
        return
    typer.echo(f"wrote {export.write()}")


@clients_app.command("hash-secret")
def clients_hash_secret() -> None:
    """Print the argon2id hash of a new client secret for the `secret_hash` setting.

    The secret is read from standard input (e.g. piped from a password manager) or, on a
    terminal, from a hidden prompt — never from the command line, where it would end up in the
    shell history and the process list."""
    import sys

    from gateway.client_secrets import hash_secret

    if sys.stdin.isatty():
        secret = typer.prompt("client secret", hide_input=True, confirmation_prompt=True)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if len(secret) < 16:
        typer.secho("a client secret needs at least 16 characters (e.g. `openssl rand -base64 32`)",
                    fg="red", err=True)
        raise typer.Exit(2)
    typer.echo(hash_secret(secret))


@blobs_app.command("gc")
def blobs_gc(dry_run: Annotated[bool, typer.Option(help="only count what would be deleted")] = False,
             grace_seconds: Annotated[float | None, typer.Option(
                 help="minimum age of a deleted blob (default: settings.blob_gc_grace_seconds)")] = None) -> None:
    """Delete blobs no inbox row, case, checkpoint, outbox row or pending upload references
    (older than the grace period; safe while the gateway runs)."""
    from gateway.store.blob_gc import collect

    gateway = _gateway()
    grace = gateway.settings.blob_gc_grace_seconds if grace_seconds is None else grace_seconds
    if grace < 60:
        typer.secho("the grace period must be at least 60 seconds", fg="red", err=True)
        raise typer.Exit(2)
    done = collect(gateway.db, gateway.blobs, grace, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {done.deleted} blob(s); kept {done.kept} referenced, {done.young} unreferenced within "
               f"the grace period; {done.temporaries} stale temporary file(s) removed")
    gateway.close()


@audit_app.command("verify")
def audit_verify(tenant: Annotated[str | None, typer.Option(
        help="only this municipality's chain (ARS; '-' for entries without one)")] = None,
                 anchor: Annotated[Path | None, typer.Option(
                     help="heads printed earlier by `audit head`: each chain must still hold them")] = None) -> None:
    """Walk each audit chain and name the first changed, inserted or removed entry (exit 1).
    Entries not sealed yet are reported as pending (the worker seals them); read-only."""
    from gateway.events import audit_trail

    gateway = _gateway()
    try:
        anchors = audit_trail.load_anchors(anchor) if anchor is not None else None
    except (OSError, GatewayError) as exc:
        typer.secho(f"error: cannot use the anchor file: {getattr(exc, 'detail', exc)}", fg="red", err=True)
        raise typer.Exit(2) from None
    results = audit_trail.verify(gateway.db, tenant, anchors)
    now = gateway.clock()
    gateway.close()
    for result in results:
        if result.problem is None:
            end = f"head at position {result.last.position} {result.last.hash}" if result.last else "empty"
            typer.echo(f"chain {result.chain}: {result.entries} entr(y/ies) intact, {end}"
                       + _pending_text(result.pending, now))
        else:
            typer.secho(f"chain {result.chain}: TAMPERED — {result.problem.message}", fg="red", err=True)
    bad = sum(result.problem is not None for result in results)
    if bad:
        typer.secho(f"{bad} of {len(results)} chain(s) failed verification", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(results)} chain(s) verified")


@audit_app.command("head")
def audit_head(tenant: Annotated[str | None, typer.Option(
        help="only this municipality's chain (ARS; '-' for entries without one)")] = None) -> None:
    """Print each chain's newest entry as JSON, to be kept outside the gateway (an anchor)."""
    import json

    from gateway.events import audit_trail

    gateway = _gateway()
    heads = audit_trail.current_heads(gateway.db, tenant)
    waiting = sum(entry.count for entry in audit_trail.pending(gateway.db, tenant).values())
    gateway.close()
    typer.echo(json.dumps(heads, indent=2))
    if waiting:  # on stderr: the JSON on stdout is the anchor
        typer.echo(f"note: {waiting} entr(y/ies) not sealed yet are not covered (the worker seals them; "
                   "or `rathaus-gateway audit seal`)", err=True)


@audit_app.command("seal")
def audit_seal() -> None:
    """Link the committed entries into their chains now, as the worker does every round (for an
    installation without a running worker, or before taking an anchor)."""
    from gateway.events import audit_sealer, audit_trail

    gateway = _gateway()
    total = 0
    while sealed := audit_sealer.seal(gateway.db):
        total += sealed
    waiting = sum(entry.count for entry in audit_trail.pending(gateway.db).values())
    gateway.close()
    typer.echo(f"sealed {total} entr(y/ies)"
               + (f"; {waiting} wait for older transactions on the database to end" if waiting else ""))


def _pending_text(pending: Pending | None, now: dt.datetime) -> str:
    if pending is None:
        return ""
    age = max(0, int((now - pending.at).total_seconds()))
    return f"; {pending.count} entr(y/ies) not sealed yet (the oldest, seq {pending.seq}, written {age} s ago)"


@keys_app.command("rotate")
def keys_rotate(new_data_keys: Annotated[bool, typer.Option(
                    help="make a fresh data key per scope the current one")] = False,
                reseal: Annotated[bool, typer.Option(
                    help="encrypt every value and blob not under the current data key again (and "
                         "whatever is still in clear)")] = False) -> None:
    """Re-wrap every data key under the current master key (at_rest.current_key_id); safe while
    the gateway runs, idempotent and resumable. Keep the old master key configured until it has
    finished."""
    from gateway.store.crypto.blobstore import EncryptedBlobStore
    from gateway.store.crypto.rotation import rotate

    gateway = _gateway()
    if gateway.keys is None:
        typer.secho("no master key configured (at_rest.master_keys)", fg="red", err=True)
        raise typer.Exit(2)
    blobs = gateway.blobs if isinstance(gateway.blobs, EncryptedBlobStore) else None
    done = rotate(gateway.db, gateway.keys, blobs, new_data_keys=new_data_keys, reseal=reseal)
    typer.echo(f"master key {gateway.keys.master.current_id}: {done.rewrapped} data key(s) re-wrapped, "
               f"{done.already_wrapped} already under it; {done.new_data_keys} new data key(s); "
               f"{done.resealed_values} row(s) and {done.resealed_blobs} blob(s) sealed again")
    gateway.close()


@keys_app.command("status")
def keys_status() -> None:
    """How many data keys each master key wraps (an old master key may go once it wraps none)."""
    gateway = _gateway()
    if gateway.keys is None:
        typer.echo("no master key configured: personal data is stored in clear")
    else:
        typer.echo(f"current master key: {gateway.keys.master.current_id}")
        for master_id, count in sorted(gateway.keys.wrapped_under().items()):
            typer.echo(f"{master_id}: {count} data key(s)")
    gateway.close()


@retention_app.command("run")
def retention_run() -> None:
    """Delete raw originals past retention.raw_original_days after their acknowledgement, those of
    discarded, quarantined and dead messages past retention.discarded_days / quarantine_days, and
    purge closed cases past their service's retention_days (audited), then their unreferenced blobs."""
    from gateway.retention import Retention

    gateway = _gateway()
    done = Retention(gateway.db, gateway.blobs, gateway.catalog, gateway.settings, gateway.clock).run()
    typer.echo(f"{done.originals} raw original(s), {done.messages} discarded/quarantined/dead message(s) and "
               f"{done.cases} closed case(s) purged, {done.blobs_deleted} blob(s) deleted")
    gateway.close()


@app.command()
def demo(url: str = "http://127.0.0.1:8000", client_id: str = "demo-portal",
         client_secret: str = "demo-portal-secret") -> None:  # noqa: S107 - documented demo credential
    """Feed sample applications for every portal form to a running gateway."""
    from gateway.demo import feed_portal

    for line in feed_portal(_settings(), url, client_id, client_secret):
        typer.echo(line)


@app.command()
def sandbox(name: str, host: str = "127.0.0.1", port: int = 8100) -> None:
    """Run the local sandbox of an external system (e.g. fitconnect, xta)."""
    import uvicorn

    from gateway.plugins import sandbox_factory

    uvicorn.run(sandbox_factory(name)(), host=host, port=port, log_level="info", server_header=False)


@app.command()
def up(config: Annotated[Path | None, typer.Option(help="gateway YAML config")] = None,
       port: int = 8000) -> None:
    """`make run`: sandboxes, the gateway with its worker, and demo traffic on every channel."""
    from gateway.devstack import run_stack

    run_stack(config, port)


def _mount_adapter_commands() -> None:
    for ep in entry_points(group="rathaus_gateway.commands"):
        try:
            app.add_typer(ep.load(), name=ep.name, help=f"Commands of the {ep.name} adapter.")
        except ImportError:
            continue  # adapter not installed in this environment


def main() -> None:
    _mount_adapter_commands()
    app()
