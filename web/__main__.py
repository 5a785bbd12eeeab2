"""``python -m web``: serve the app through waitress, a production WSGI server.

On a first start with no accounts it prints a one-time setup link that creates the first admin
(there is no default password). It loads the check's models in the background as it starts,
so that the first photo uploaded does not wait for them. It also starts ``consent worker``
beside the server (the batch queue's workers, ``consent.jobs.batch_queue``; ``--workers 0`` when they
run elsewhere) and queues again any photo a stopped server or worker left behind.
"""

from __future__ import annotations

import argparse
import signal
import sys

from waitress import serve

from consent.jobs import check_thread

from .accounts import accounts
from . import create_app
from .core import body_limits
from .core.db import connect


def setup_link_message(app, host: str, port: int) -> str | None:
    """A fresh setup link when nobody has an account yet, else None."""
    db = connect(app.config["CONSENT_DB"], app.config["CONSENT_SETTINGS"].register_busy_timeout_s)
    try:
        if accounts.count_users(db):
            return None
        token = accounts.new_setup_token(db)
    finally:
        db.conn.close()
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    hours = app.config["CONSENT_SETTINGS"].setup_link_hours
    return (
        "No accounts yet. Open this link once to create the first admin "
        f"(it works once, for {hours} hours):\n\n    http://{shown_host}:{port}/setup/{token}\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m web", description="Serve the consent web app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=None,
        help="background batch worker processes (default: batch_workers in settings; 0: none)",
    )
    parser.add_argument(
        "--trusted-proxy", default=None,
        help="address of a reverse proxy doing https in front (its X-Forwarded-* headers are trusted)",
    )
    args = parser.parse_args(argv)
    app = create_app()
    check_thread.warm_up(app.config["CONSENT_DB"], app.config["CONSENT_SETTINGS"])
    message = setup_link_message(app, args.host, args.port)
    if message:
        print(message, flush=True)
    from consent.jobs import batch_queue

    try:
        queue = batch_queue.describe(app.config["CONSENT_DATA"])
    except batch_queue.QueueMisconfigured as exc:
        print(f"consent: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        batch_queue.recover_at_start(app)  # photos a stopped server or worker left behind
    except Exception as exc:  # e.g. Redis not up yet: the workers recover them when they start
        print(f"consent: the batch queue ({queue}) cannot be reached yet: {exc}", file=sys.stderr, flush=True)
    worker = None
    workers = app.config["CONSENT_SETTINGS"].batch_workers if args.workers is None else args.workers
    if workers > 0:
        worker = batch_queue.start_worker_process(app, workers)
        print(f"batch queue: {queue}, {workers} worker process(es)", flush=True)
    else:
        print(f"batch queue: {queue}; no workers here: run 'consent worker' to check batch photos", flush=True)
    # waitress refuses bodies over 1 GB by default; batch uploads may be larger (only the upload
    # routes, for someone allowed to upload: see web.core.body_limits)
    limit = app.config["CONSENT_SETTINGS"].max_batch_upload_mb * 1024 * 1024 + 16 * 1024 * 1024
    options = {"max_request_body_size": limit}
    if args.trusted_proxy:
        options |= {
            "trusted_proxy": args.trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        }
    print(f"consent is serving on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    # stop cleanly on SIGTERM too (service managers), so the batch workers are ended with us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(app, host=args.host, port=args.port, threads=args.threads, ident="consent",
              _server=body_limits.create_server, **options)
    finally:
        if worker is not None:
            batch_queue.stop_worker_process(worker)


if __name__ == "__main__":
    sys.exit(main())
