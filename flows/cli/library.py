"""`scoreflow library`: a music library made from a brief (every version of every track,
catalogued), or with --check its plan only."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scoreflow.flows import inspect
from scoreflow.flows.cli import runner
from scoreflow.flows.cli.options import BACKENDS, CONFIG_HELP, Handler, Subparsers, command, given
from scoreflow.tasks.errors import InputError


def _add_library(sub: Subparsers) -> None:
    lib = command(sub, "library", "make a music library: every version of every track, catalogued")
    lib.add_argument("brief", help="library brief (.toml .yaml .json .csv), a path or s3:// URI")
    lib.add_argument("--out", help="catalogue folder or s3:// prefix (grows: tracks are added)")
    lib.add_argument("--config", help=CONFIG_HELP)
    lib.add_argument("--backend", choices=BACKENDS, help="music backend (default: composer)")
    lib.add_argument("--tracks", type=int, help="cycle the brief's entries to this many tracks")
    lib.add_argument("--add", type=int, help="this many tracks more than the catalogue holds")
    lib.add_argument("--seed", type=int, help="the library's seed (default: the brief's)")
    lib.add_argument(
        "--check", action="store_true", help="validate and print the plan, make nothing"
    )


def _library(args: argparse.Namespace) -> int:
    lines = inspect.library_plan(args.brief, **given(args, "config", "backend", "tracks", "seed"))
    if args.check:
        print("\n".join(lines))
        return 0
    if not args.out:
        raise InputError(
            "no catalogue folder", field="--out", fix="Give --out DIR or an s3:// prefix"
        )
    inspect.check_output(args.out, video=None, shots=args.brief, config_file=args.config)
    print(lines[0], file=sys.stderr)
    options = given(args, "brief", "out", "config", "backend", "tracks", "add", "seed")
    result = runner.with_progress(args, _make_library, **options)
    n = len(result["tracks"])
    files = sum(len(t["rows"]) for t in result["tracks"])
    out = args.out.rstrip("/")
    print(f"\nCatalogue: {out}/catalog.csv ({n} tracks, {files} files), {out}/catalog.json")
    print(f"Browse:    {out}/index.html")
    return 0


def _make_library(**options: Any) -> dict[str, Any]:
    from scoreflow.flows.library import make_library  # once Prefect is set up (`runner`)

    return make_library(**options)


COMMANDS: dict[str, Handler] = {"library": _library}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add `scoreflow library` to `sub`."""
    _add_library(sub)
