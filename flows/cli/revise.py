"""`scoreflow pick` and `scoreflow revise`: one cue of a scored run changed (another take,
or a director's note; or the last change undone), then the run mixed and delivered again."""

from __future__ import annotations

import argparse
from typing import Any

from scoreflow.flows import inspect
from scoreflow.flows.cli import runner
from scoreflow.flows.cli.options import Handler, Subparsers, command
from scoreflow.tasks.errors import InputError


def _add_pick(sub: Subparsers) -> None:
    pk = command(sub, "pick", "use another take of a scene's cue, and mix again")
    pk.add_argument("out", help="a scored run's folder (or its s3:// prefix)")
    pk.add_argument("--scene", required=True, help="the scene's id")
    pk.add_argument("--take", type=int, required=True, help="the take (report: Takes)")
    _who_options(pk)


def _add_revise(sub: Subparsers) -> None:
    rv = command(sub, "revise", "revise one cue by a note (or undo the last revision)")
    rv.add_argument("out", help="a scored run's folder (or its s3:// prefix)")
    rv.add_argument("--scene", help="the scene's id")
    rv.add_argument("--note", help='what to change, e.g. "more tension, no drums, hit at 00:42"')
    rv.add_argument("--undo", action="store_true", help="return to the previous revision")
    _who_options(rv)


def _who_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", help="who gives the note (default: the user's name)")
    p.add_argument("--allow-qc-fail", action="store_true", help="as for score")


def _revise(args: argparse.Namespace) -> int:
    """`pick` and `revise`: checked, then the run scored again with the change."""
    from scoreflow.flows import revise

    _check_note(args)
    manifest = revise.load_run(args.out)
    _check_scene(args, manifest)
    state = revise.revised(
        manifest,
        scene=args.scene,
        note=getattr(args, "note", None),
        take=getattr(args, "take", None),
        undo=getattr(args, "undo", False),
        who=args.by,
    )
    result = runner.with_progress(
        args, revise.rerun, args.out, manifest, state, allow_qc_fail=args.allow_qc_fail
    )
    entry = result["revision"]["history"][-1]
    what = (
        f"undid revision {entry['undo']}" if "undo" in entry
        else f"scene {entry['scene']}: take {entry['take']}" if "take" in entry
        else f"scene {entry['scene']}: " + ("; ".join(entry.get("changed", [])) or "no change")
    )  # fmt: skip
    print(f"revision {entry['number']}: {what}")
    print(inspect.summary(result))
    return 0


def _check_note(args: argparse.Namespace) -> None:
    """`revise` takes --scene and --note, or --undo alone; a note is not blank."""
    if args.command == "revise" and (
        bool(args.note or args.scene) if args.undo else args.note is None or not args.scene
    ):
        raise InputError(
            "give --scene and --note, or --undo alone",
            field="--note" if not args.undo else "--undo",
            value=args.note if not args.undo else True,
            fix='e.g. scoreflow revise OUT --scene 4 --note "more tension, no drums"',
        )
    if args.command == "revise" and not args.undo and not (args.note or "").strip():
        raise InputError("a note is needed", field="--note", value=args.note)


def _check_scene(args: argparse.Namespace, manifest: dict[str, Any]) -> None:
    """--scene names a music scene of the run; `pick`'s --take is one the run has: the
    run's own check (`flows.revise.check_revision`), before any Prefect run starts."""
    from scoreflow.flows import revise

    takes = {
        s["id"]: len(s["cue"].get("takes", [None])) for s in manifest["scenes"] if s.get("cue")
    }
    revise.check_revision(
        takes,
        scenes=[args.scene] if args.scene is not None else [],
        picks={args.scene: args.take} if args.command == "pick" else None,
        takes=takes,
    )


_PARSERS = {"pick": _add_pick, "revise": _add_revise}
COMMANDS: dict[str, Handler] = {"pick": _revise, "revise": _revise}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add this module's subcommands (`names` of them, else all) to `sub`."""
    for name in names or _PARSERS:
        _PARSERS[name](sub)
