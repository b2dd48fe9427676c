"""`scoreflow score`, and what looks at a run's inputs or outputs without scoring:
`check`, `explain`, `render` (a cue's MIDI) and `verify` (a run against its manifest)."""

from __future__ import annotations

import argparse
from typing import Any

from scoreflow.flows import inspect
from scoreflow.flows.cli import runner
from scoreflow.flows.cli.options import (
    CONFIG_HELP,
    Handler,
    Subparsers,
    command,
    given,
    input_options,
    music_options,
)


def _add_score(sub: Subparsers) -> None:
    s = command(sub, "score", "score a video end to end")
    s.add_argument("video", help="the video (mp4, mov, mkv ...), a path or s3:// URI")
    input_options(s, shots=False)
    s.add_argument("--out", required=True, help="output folder, or s3:// prefix")
    music_options(s)
    s.add_argument("--seed", type=int, help="base seed (each scene derives its own)")
    s.add_argument(
        "--takes", type=int, help="candidates per scene; the best by quality score is used"
    )
    s.add_argument(
        "--allow-qc-fail",
        action="store_true",
        help="exit 0 even when the deliverables fail QC (the manifest still says so)",
    )
    s.add_argument(
        "--keep-original-audio",
        action="store_true",
        default=None,
        help="keep the video's own audio as a second track",
    )


def _add_check(sub: Subparsers) -> None:
    c = command(sub, "check", "validate a shot list (its fit to a video, the backend) and stop")
    input_options(c, video=True, shots=False)
    music_options(c)


def _add_explain(sub: Subparsers) -> None:
    e = command(sub, "explain", "show how each scene's words were read, and the composer's plan")
    input_options(e, video=True, shots=False)
    e.add_argument("--seed", type=int, help="base seed, as for score")
    e.add_argument("--out", help="a scored run's folder: each cue's measured quality too")


def _add_render(sub: Subparsers) -> None:
    r = command(sub, "render", "render a (cue) MIDI file with the composer's SoundFont")
    r.add_argument("midi", help="a Standard MIDI File, e.g. cues/4.mid after editing")
    r.add_argument("--out", required=True, help="WAV file to write (48 kHz, 24-bit)")
    r.add_argument("--seconds", type=float, help="length (default: the last note-off)")
    r.add_argument("--config", help=CONFIG_HELP)


def _add_verify(sub: Subparsers) -> None:
    f = command(
        sub, "verify", "check an output folder against its manifest (files, sizes, SHA-256)"
    )
    f.add_argument("folder", help="a run's output folder")


_SCORE = ("video", "shots", "out", "config", "backend", "model", "preset", "guide", "fps",
          "start_tc", "seed", "keep_original_audio", "allow_qc_fail", "takes")  # fmt: skip


def _score(args: argparse.Namespace) -> int:
    _check(args, picture=False)  # everything validated before the Prefect engine starts
    inspect.check_output(args.out, video=args.video, shots=args.shots, config_file=args.config)
    manifest = runner.with_progress(args, _score_video, **given(args, *_SCORE))
    print(inspect.summary(manifest))
    return 0


def _score_video(**options: Any) -> dict[str, Any]:
    from scoreflow.flows.score import score_video  # once Prefect is set up (`runner`)

    return score_video(**options)


def _check(args: argparse.Namespace, *, picture: bool = True) -> int:
    where = given(args, "video", "fps", "config", "start_tc")
    music = given(args, "backend", "model", "preset", "guide")
    print("\n".join(inspect.check(args.shots, picture=picture, **where, **music)))
    return 0


def _explain(args: argparse.Namespace) -> int:
    where = given(args, "video", "fps", "config", "start_tc", "seed")
    print("\n".join(inspect.explain(args.shots, run=args.out, **where)))
    return 0


def _render(args: argparse.Namespace) -> int:
    print(inspect.render(args.midi, out=args.out, seconds=args.seconds, config_file=args.config))
    return 0


def _verify(args: argparse.Namespace) -> int:
    """0 when the folder holds what its manifest says; else the differences, and 1."""
    from pathlib import Path

    from scoreflow.tasks.delivery.outdir import verify

    problems = verify(Path(args.folder))
    if problems:
        print("\n".join(problems))
        print(f"{args.folder}: does NOT match its manifest ({len(problems)} problems)")
        return 1
    print(f"{args.folder}: every output matches its manifest")
    return 0


_PARSERS = {
    "score": _add_score,
    "check": _add_check,
    "explain": _add_explain,
    "render": _add_render,
    "verify": _add_verify,
}
COMMANDS: dict[str, Handler] = {
    "score": _score,
    "check": _check,
    "explain": _explain,
    "render": _render,
    "verify": _verify,
}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add this module's subcommands (`names` of them, else all) to `sub`."""
    for name in names or _PARSERS:
        _PARSERS[name](sub)
