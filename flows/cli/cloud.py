"""`scoreflow watch`, `batch` and `serve`: many runs, from uploads (S3 events or a polled
folder or prefix), one pass over a folder, or Prefect deployments on a schedule."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scoreflow.flows.cli import runner
from scoreflow.flows.cli.options import BACKENDS, CONFIG_HELP, PRESETS, Handler, Subparsers, command
from scoreflow.tasks.errors import InputError


def _add_watch(sub: Subparsers) -> None:
    w = command(sub, "watch", "score uploads as they arrive (S3 events or polling)")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--queue", help="SQS queue URL receiving the bucket's ObjectCreated events")
    src.add_argument("--poll", help="folder or s3:// prefix to list for new pairs")
    _batch_options(w)
    w.add_argument("--prefix", default="", help="with --queue: only keys under it (incoming/)")
    w.add_argument("--every", type=float, default=60.0, help="with --poll: seconds between passes")
    w.add_argument("--once", action="store_true", help="one pass, then exit")


def _add_batch(sub: Subparsers) -> None:
    b = command(sub, "batch", "score every new video + shot list pair in a folder, N at a time")
    b.add_argument("folder", help="folder or s3:// prefix holding the pairs")
    b.add_argument("--concurrency", type=int, default=2, help="pairs scored at once (2)")
    _batch_options(b)


def _add_serve(sub: Subparsers) -> None:
    v = command(sub, "serve", "serve scheduled scoring as Prefect deployments")
    v.add_argument("--folder", help="folder or s3:// prefix scored on schedule")
    v.add_argument("--library", help="a library brief made on schedule into --out (with --add)")
    v.add_argument("--add", type=int, default=20, help="with --library: new tracks a run")
    v.add_argument("--queue", help="also serve the upload queue (every minute)")
    v.add_argument("--prefix", default="", help="with --queue: only keys under it")
    when = v.add_mutually_exclusive_group()
    when.add_argument("--cron", help='cron schedule, e.g. "0 2 * * *" (nightly at 02:00)')
    when.add_argument("--interval", type=float, help="seconds between runs")
    _batch_options(v, tries=False)


def _batch_options(p: argparse.ArgumentParser, *, tries: bool = True) -> None:
    p.add_argument("--out", help="where runs go (default: scored/ beside the watched prefix)")
    p.add_argument("--config", help=CONFIG_HELP + ", for every run")
    p.add_argument("--preset", choices=PRESETS, help="loudness preset for every run")
    p.add_argument("--backend", choices=BACKENDS, help="music backend for every run")
    if tries:
        p.add_argument("--max-tries", type=int, default=3, help="tries before dead-lettering")
        p.add_argument("--dead-letter", help="where failures are recorded (default: failed/)")
        p.add_argument("--state", help="where the ledger is kept (default: .scoreflow/)")


def _run_options(args: argparse.Namespace) -> dict[str, str]:
    """`score_video` options given to watch/serve."""
    pairs = (("config_file", args.config), ("preset", args.preset), ("backend", args.backend))
    return {k: v for k, v in pairs if v}


def watch(args: argparse.Namespace) -> int:
    """Loop over queue or folder passes until interrupted (or once)."""
    import time

    from scoreflow.flows.watch import score_new, score_uploads
    from scoreflow.tasks.errors import TransientStorageError

    options = _run_options(args)
    common = {"out": args.out, "max_tries": args.max_tries, "dead_letter": args.dead_letter}
    common |= {"state": args.state, "options": options}
    backoff = 1.0
    while True:
        try:
            if args.queue:
                report = score_uploads(args.queue, prefix=args.prefix, **common)
            else:
                report = score_new(args.poll, **common)
            transient = next((r["what"] for r in report if r.get("transient")), None)
        except TransientStorageError as exc:  # the queue or bucket hiccuped: try again
            transient = str(exc)
        if transient and not args.once:
            print(
                f"scoreflow: warning: {transient}; trying again in {backoff:g} s", file=sys.stderr
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        backoff = 1.0
        for item in report:
            print(watch_line(item))
        if args.once:
            return 0
        if args.poll:
            time.sleep(args.every)


def watch_line(item: dict[str, Any]) -> str:
    """One line per handled upload or pair: ``<outcome>: <pair or uploads>[ -> <where>]``."""
    what = item.get("pair") or ", ".join(item.get("uploads", [])) or "-"
    return f"{item['what']}: {what}" + (f" -> {item['to']}" if item.get("to") else "")


def _batch(args: argparse.Namespace) -> int:
    """One pass over a folder, `--concurrency` pairs at once; 1 when any pair failed."""
    if not 1 <= args.concurrency <= 64:
        raise InputError(
            "must be between 1 and 64", field="--concurrency", value=args.concurrency,
            fix="Give how many pairs to score at once, e.g. the machine's cores",
        )  # fmt: skip
    with runner.prefect(args, quiet=False):
        from scoreflow.flows.watch import score_new

        report = score_new(
            args.folder, out=args.out, max_tries=args.max_tries, dead_letter=args.dead_letter,
            state=args.state, options=_run_options(args), concurrency=args.concurrency,
        )  # fmt: skip
    for item in report:
        print(watch_line(item))
    return 1 if any(item["what"] != "scored" for item in report) else 0


def _watch(args: argparse.Namespace) -> int:
    if args.queue is not None and not args.queue.startswith(("https://", "http://")):
        raise InputError(
            "not an SQS queue URL",
            field="--queue",
            value=args.queue,
            fix="Give the queue's URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/uploads",
        )
    with runner.prefect(args, quiet=False):
        return watch(args)


def _serve(args: argparse.Namespace) -> int:
    if not (args.folder or args.queue or args.library):
        raise InputError(
            "nothing to serve",
            field="--folder",
            fix="Give --folder, --queue or --library (with --out)",
        )
    library = None
    if args.library:
        if not args.out:
            raise InputError(
                "a library needs its catalogue",
                field="--out",
                fix="Give --out DIR or an s3:// prefix",
            )
        library = {"brief": args.library, "out": args.out, "add": args.add}
    with runner.prefect(args, quiet=False):
        from scoreflow.flows.schedule import serve

        serve(
            folder=args.folder,
            queue_url=args.queue,
            out=args.out,
            cron=args.cron,
            interval_s=args.interval,
            prefix=args.prefix,
            options=_run_options(args),
            library=library,
        )
    return 0


_PARSERS = {"watch": _add_watch, "batch": _add_batch, "serve": _add_serve}
COMMANDS: dict[str, Handler] = {"watch": _watch, "batch": _batch, "serve": _serve}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add this module's subcommands (`names` of them, else all) to `sub`."""
    for name in names or _PARSERS:
        _PARSERS[name](sub)
