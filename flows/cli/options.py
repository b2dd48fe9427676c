"""What the subcommands share: help texts, the closed sets of choices, `--debug` on every
subcommand, and the option groups several subcommands take."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from scoreflow.tasks.engines import BACKENDS

SHOTS_HELP = "shot list (.csv .tsv .json .yaml) or cut (.edl .xml .fcpxml .otio)"
PICTURE_HELP = SHOTS_HELP + "; without it, the scenes are read from the picture"
START_HELP = "timecode of the video's first frame, e.g. 01:00:00:00 (default: the video's own)"
FPS_HELP = "frame rate of the shot list, e.g. 23.976 or 30000/1001 (default: the video's)"
CONFIG_HELP = "project config (TOML) over config/defaults.toml; a path or s3:// URI"
PRESETS = ("ebu-r128", "atsc-a85", "streaming", "netflix", "custom")

Subparsers = argparse._SubParsersAction  # what `ArgumentParser.add_subparsers` returns
Handler = Callable[[argparse.Namespace], int]  # a subcommand: its parsed options to an exit code

__all__ = [
    "BACKENDS",
    "PRESETS",
    "Handler",
    "Subparsers",
    "command",
    "debug_option",
    "given",
]


def debug_option() -> argparse.ArgumentParser:
    """The parent parser giving `scoreflow` and each subcommand `--debug`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(  # SUPPRESS: a subcommand's default must not undo `scoreflow --debug`
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and Prefect's own log lines",
    )
    return common


def command(sub: Subparsers, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand `name`, `text` its help and description."""
    return sub.add_parser(name, help=text, description=text, parents=[debug_option()])


def input_options(p: argparse.ArgumentParser, *, video: bool = False, shots: bool = True) -> None:
    """Where the scenes come from: a shot list (or cut), the video, and how to read them."""
    p.add_argument("--shots", required=shots, help=SHOTS_HELP if shots else PICTURE_HELP)
    if video:
        p.add_argument("--video", help="the video, to check the cut against it")
    p.add_argument("--fps", help=FPS_HELP)
    p.add_argument("--start-tc", help=START_HELP)
    p.add_argument("--config", help=CONFIG_HELP)


def music_options(p: argparse.ArgumentParser) -> None:
    """The music backend, its model, the loudness preset and the ace-step guide."""
    p.add_argument("--backend", choices=BACKENDS, help="music backend (default: composer)")
    p.add_argument("--model", help="backend model: a SoundFont, a model id or a folder")
    p.add_argument("--preset", choices=PRESETS, help="loudness preset (default: ebu-r128)")
    p.add_argument(
        "--guide",
        choices=("none", "composer"),
        help="ace-step: 'composer' has the model re-perform the composer's arrangement "
        "(its bars, tempo map and hit points kept)",
    )


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The parsed options `names` as keyword arguments of a flow or `flows.inspect`
    function (`--config` is their `config_file`)."""
    return {("config_file" if name == "config" else name): getattr(args, name) for name in names}
