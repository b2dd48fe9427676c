"""`scoreflow cuts`: the picture's cuts, scenes and hit points as a shot list (or a cut for
the editor: .otio, .edl)."""

from __future__ import annotations

import argparse
import sys

from scoreflow.flows import cuts as picture_cuts
from scoreflow.flows.cli.options import CONFIG_HELP, START_HELP, Handler, Subparsers, command, given


def _add_cuts(sub: Subparsers) -> None:
    cu = command(sub, "cuts", "read a video's cuts, scenes and hit points into a shot list")
    cu.add_argument("video", help="the video, a path or s3:// URI")
    cu.add_argument("--out", action="append", default=[],
                    help="file to write: .csv (a shot list), .otio or .edl (repeatable); "
                    "default: the CSV on standard output")  # fmt: skip
    cu.add_argument("--force", action="store_true", help="replace --out files that exist")
    cu.add_argument("--start-tc", help=START_HELP)
    cu.add_argument("--config", help=CONFIG_HELP)


def _cuts(args: argparse.Namespace) -> int:
    """Read the picture; write the proposed shot list (and .otio/.edl) atomically, never
    over the video or, without --force, over a file that is there."""
    cuts = picture_cuts.read_cuts(args.video, **given(args, "out", "force", "start_tc", "config"))
    print(f"scoreflow: {cuts.summary()}", file=sys.stderr)
    if not cuts.files:
        sys.stdout.write(cuts.text("csv"))
    for path, kind in cuts.files:
        picture_cuts.write_cut(cuts, path, kind)
        print(f"wrote {path}", file=sys.stderr)
    return 0


COMMANDS: dict[str, Handler] = {"cuts": _cuts}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add `scoreflow cuts` to `sub`."""
    _add_cuts(sub)
