"""`scoreflow cache info|prune`: the cue cache's size, or what expired deleted."""

from __future__ import annotations

import argparse

from scoreflow.flows.cli.options import CONFIG_HELP, Handler, Subparsers, command
from scoreflow.tasks.errors import InputError


def _add_cache(sub: Subparsers) -> None:
    k = command(sub, "cache", "the cue cache: its size, or delete what expired")
    k.add_argument("action", choices=("info", "prune"), help="what to do")
    k.add_argument("--config", help=CONFIG_HELP + " (for [cache])")
    k.add_argument("--older-than", type=float, help="prune: days (default: cache.expire_days)")
    k.add_argument("--dry-run", action="store_true", help="prune: list, delete nothing")


def _cache(args: argparse.Namespace) -> int:
    from scoreflow import config
    from scoreflow.flows import cache, settings

    cfg = settings.load(args.config)
    folder = config.cache_dir(cfg)
    if cfg.cache.storage:
        print(f"cues are kept in the Prefect block {cfg.cache.storage}: expire them "
              "with the bucket's lifecycle rules")  # fmt: skip
    if args.action == "info":
        files, size = cache.usage(folder)
        print(f"{folder}: {files} files, {size / 1e6:.1f} MB; "
              f"cues expire after {cfg.cache.expire_days:g} days")  # fmt: skip
        return 0
    days = cfg.cache.expire_days if args.older_than is None else args.older_than
    if days < 0:
        raise InputError("must be 0 or more", field="--older-than", value=days)
    files, size = cache.prune(folder, older_than_days=days, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{folder}: {verb} {files} files ({size / 1e6:.1f} MB) older than {days:g} days")
    return 0


COMMANDS: dict[str, Handler] = {"cache": _cache}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add `scoreflow cache` to `sub`."""
    _add_cache(sub)
