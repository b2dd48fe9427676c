"""The `scoreflow` command.

    scoreflow score VIDEO [--shots FILE] --out DIR [--config FILE] [--backend NAME]
                    [--model ID_OR_PATH] [--preset NAME] [--fps RATE] [--start-tc TC]
                    [--seed N] [--keep-original-audio] [--guide composer]
                    [--allow-qc-fail] [--takes N]
    scoreflow pick OUT --scene ID --take K
    scoreflow revise OUT --scene ID --note TEXT | revise OUT --undo
    scoreflow check (--shots FILE [--video VIDEO] | --video VIDEO) [--fps RATE] [--start-tc TC]
    scoreflow explain (--shots FILE [--video VIDEO] | --video VIDEO) [--fps RATE]
                      [--start-tc TC] [--config FILE] [--seed N]
    scoreflow cuts VIDEO [--out shots.csv|.otio|.edl ...] [--config FILE] [--start-tc TC]
    scoreflow render MIDI --out WAV [--seconds S] [--config FILE]
    scoreflow library BRIEF --out DIR [--config FILE] [--backend NAME] [--tracks N]
                      [--add N] [--seed N] [--check]
    scoreflow verify OUT
    scoreflow watch (--queue SQS_URL | --poll FOLDER_OR_PREFIX) [--out URI] [--prefix P]
                    [--max-tries N] [--dead-letter URI] [--state URI] [--every S] [--once]
    scoreflow batch FOLDER_OR_PREFIX [--concurrency N] [--out URI] [--max-tries N]
                    [--dead-letter URI] [--state URI]
    scoreflow serve --folder FOLDER_OR_PREFIX [--queue SQS_URL] [--out URI]
                    [--cron "0 2 * * *" | --interval S]

Paths may be s3://bucket/key URIs. Without --shots, the scenes, their energy and hit points
are read from the picture (and the video's own sound); `cuts` writes them for the editor.

Bad input is reported as one message without a traceback (exit 2); other failures exit 1.
Inputs are validated before the Prefect engine starts, so a typo fails in a second.

Each command group is a module (`score`, `revise`, `cloud`, `library`, `picture`, `server`,
`cache`) that adds its subcommands (`add_parsers`) and maps them to handlers (`COMMANDS`);
`runner` starts Prefect and maps how a command ended to its exit code, `signals` handles
SIGTERM and SIGHUP. What the commands compute is in `scoreflow.flows.inspect`.
"""

from __future__ import annotations

import argparse

from scoreflow.flows.cli import (
    cache,
    cloud,
    library,
    picture,
    revise,
    runner,
    score,
    server,
    signals,
)
from scoreflow.flows.cli.cloud import watch_line
from scoreflow.flows.cli.options import BACKENDS, PRESETS, Handler, debug_option
from scoreflow.flows.cli.signals import Terminated
from scoreflow.flows.inspect import summary, warn_about

__all__ = [
    "BACKENDS",
    "COMMANDS",
    "PRESETS",
    "Terminated",
    "main",
    "summary",
    "warn_about",
    "watch_line",
]

_GROUPS = (score, revise, cloud, library, picture, server, cache)
COMMANDS: dict[str, Handler] = {name: h for g in _GROUPS for name, h in g.COMMANDS.items()}
# the order `scoreflow --help` lists the subcommands in
_LISTED = ("score", "pick", "revise", "check", "explain", "watch", "batch", "serve", "library",
           "cuts", "render", "server", "verify", "cache")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    from scoreflow import __version__

    p = argparse.ArgumentParser(
        prog="scoreflow", description="Score a video from a shot list.", parents=[debug_option()]
    )
    p.add_argument("--version", action="version", version=f"scoreflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    group = {name: g for g in _GROUPS for name in g.COMMANDS}
    for name in _LISTED:
        group[name].add_parsers(sub, name)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the `scoreflow` command on `argv` (default: the process's); its exit code."""
    args = _parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    signals.install()
    return runner.run(COMMANDS[args.command], args)
