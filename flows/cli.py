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
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from scoreflow.tasks.errors import InputError, ScoreflowError

SHOTS_HELP = "shot list (.csv .tsv .json .yaml) or cut (.edl .xml .fcpxml .otio)"
PICTURE_HELP = SHOTS_HELP + "; without it, the scenes are read from the picture"
START_HELP = "timecode of the video's first frame, e.g. 01:00:00:00 (default: the video's own)"
FPS_HELP = "frame rate of the shot list, e.g. 23.976 or 30000/1001 (default: the video's)"
CONFIG_HELP = "project config (TOML) over config/defaults.toml; a path or s3:// URI"
BACKENDS = ("composer", "musicgen", "audiocraft", "stable-audio", "ace-step")
PRESETS = ("ebu-r128", "atsc-a85", "streaming", "netflix", "custom")


def _parser() -> argparse.ArgumentParser:
    from scoreflow import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(  # SUPPRESS: a subcommand's default must not undo `scoreflow --debug`
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and Prefect's own log lines",
    )
    p = argparse.ArgumentParser(
        prog="scoreflow", description="Score a video from a shot list.", parents=[common]
    )
    p.add_argument("--version", action="version", version=f"scoreflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    s = command("score", "score a video end to end")
    s.add_argument("video", help="the video (mp4, mov, mkv ...), a path or s3:// URI")
    _input_options(s, shots=False)
    s.add_argument("--out", required=True, help="output folder, or s3:// prefix")
    _music_options(s)
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
    pk = command("pick", "use another take of a scene's cue, and mix again")
    pk.add_argument("out", help="a scored run's folder (or its s3:// prefix)")
    pk.add_argument("--scene", required=True, help="the scene's id")
    pk.add_argument("--take", type=int, required=True, help="the take (report: Takes)")
    rv = command("revise", "revise one cue by a note (or undo the last revision)")
    rv.add_argument("out", help="a scored run's folder (or its s3:// prefix)")
    rv.add_argument("--scene", help="the scene's id")
    rv.add_argument("--note", help='what to change, e.g. "more tension, no drums, hit at 00:42"')
    rv.add_argument("--undo", action="store_true", help="return to the previous revision")
    for cmd in (pk, rv):
        cmd.add_argument("--by", help="who gives the note (default: the user's name)")
        cmd.add_argument("--allow-qc-fail", action="store_true", help="as for score")
    c = command("check", "validate a shot list (its fit to a video, the backend) and stop")
    _input_options(c, video=True, shots=False)
    _music_options(c)
    e = command("explain", "show how each scene's words were read, and the composer's plan")
    _input_options(e, video=True, shots=False)
    e.add_argument("--seed", type=int, help="base seed, as for score")
    e.add_argument("--out", help="a scored run's folder: each cue's measured quality too")
    w = command("watch", "score uploads as they arrive (S3 events or polling)")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--queue", help="SQS queue URL receiving the bucket's ObjectCreated events")
    src.add_argument("--poll", help="folder or s3:// prefix to list for new pairs")
    _batch_options(w)
    w.add_argument("--prefix", default="", help="with --queue: only keys under it (incoming/)")
    w.add_argument("--every", type=float, default=60.0, help="with --poll: seconds between passes")
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    b = command("batch", "score every new video + shot list pair in a folder, N at a time")
    b.add_argument("folder", help="folder or s3:// prefix holding the pairs")
    b.add_argument("--concurrency", type=int, default=2, help="pairs scored at once (2)")
    _batch_options(b)
    v = command("serve", "serve scheduled scoring as Prefect deployments")
    v.add_argument("--folder", help="folder or s3:// prefix scored on schedule")
    v.add_argument("--library", help="a library brief made on schedule into --out (with --add)")
    v.add_argument("--add", type=int, default=20, help="with --library: new tracks a run")
    v.add_argument("--queue", help="also serve the upload queue (every minute)")
    v.add_argument("--prefix", default="", help="with --queue: only keys under it")
    when = v.add_mutually_exclusive_group()
    when.add_argument("--cron", help='cron schedule, e.g. "0 2 * * *" (nightly at 02:00)')
    when.add_argument("--interval", type=float, help="seconds between runs")
    _batch_options(v, tries=False)
    lib = command("library", "make a music library: every version of every track, catalogued")
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
    cu = command("cuts", "read a video's cuts, scenes and hit points into a shot list")
    cu.add_argument("video", help="the video, a path or s3:// URI")
    cu.add_argument("--out", action="append", default=[],
                    help="file to write: .csv (a shot list), .otio or .edl (repeatable); "
                    "default: the CSV on standard output")  # fmt: skip
    cu.add_argument("--force", action="store_true", help="replace --out files that exist")
    cu.add_argument("--start-tc", help=START_HELP)
    cu.add_argument("--config", help=CONFIG_HELP)
    r = command("render", "render a (cue) MIDI file with the composer's SoundFont")
    r.add_argument("midi", help="a Standard MIDI File, e.g. cues/4.mid after editing")
    r.add_argument("--out", required=True, help="WAV file to write (48 kHz, 24-bit)")
    r.add_argument("--seconds", type=float, help="length (default: the last note-off)")
    r.add_argument("--config", help=CONFIG_HELP)
    srv = command("server", "a Prefect server kept running, so runs start at once")
    srv.add_argument("action", choices=("start", "stop", "status"), help="what to do")
    srv.add_argument("--port", type=int, default=4200, help="port on 127.0.0.1 (start)")
    f = command("verify", "check an output folder against its manifest (files, sizes, SHA-256)")
    f.add_argument("folder", help="a run's output folder")
    k = command("cache", "the cue cache: its size, or delete what expired")
    k.add_argument("action", choices=("info", "prune"), help="what to do")
    k.add_argument("--config", help=CONFIG_HELP + " (for [cache])")
    k.add_argument("--older-than", type=float, help="prune: days (default: cache.expire_days)")
    k.add_argument("--dry-run", action="store_true", help="prune: list, delete nothing")
    return p


def _input_options(p: argparse.ArgumentParser, *, video: bool = False, shots: bool = True) -> None:
    p.add_argument("--shots", required=shots, help=SHOTS_HELP if shots else PICTURE_HELP)
    if video:
        p.add_argument("--video", help="the video, to check the cut against it")
    p.add_argument("--fps", help=FPS_HELP)
    p.add_argument("--start-tc", help=START_HELP)
    p.add_argument("--config", help=CONFIG_HELP)


def _music_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, help="music backend (default: composer)")
    p.add_argument("--model", help="backend model: a SoundFont, a model id or a folder")
    p.add_argument("--preset", choices=PRESETS, help="loudness preset (default: ebu-r128)")
    p.add_argument(
        "--guide",
        choices=("none", "composer"),
        help="ace-step: 'composer' has the model re-perform the composer's arrangement "
        "(its bars, tempo map and hit points kept)",
    )


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


def render(midi: str, *, out: str, seconds: float | None, config_file: str | None) -> str:
    """Render a MIDI file to a WAV through the composer's SoundFont and room."""
    from scoreflow import config
    from scoreflow.tasks.cloud.storage import (
        S3Uri,
        check_not_input,
        fetch,
        is_remote,
        local_path,
        upload,
        work_dir,
    )
    from scoreflow.tasks.delivery.deliver import write_wav
    from scoreflow.tasks.engines.composer import Composer

    cfg = config.load_config(config_file)
    if str(out) == str(midi):
        raise InputError("refusing to overwrite an input file", source=midi)
    source = fetch(midi, work_dir(), what="MIDI file")
    if is_remote(out):
        target = work_dir() / "render" / S3Uri.parse(out).name
    else:
        target = local_path(out, what="output")
        check_not_input(target, [source])
    composer = Composer.from_config(cfg)
    audio = composer.render_file(source, seconds=seconds)
    write_wav(target, audio, composer.sample_rate, subtype=cfg["output"]["wav_subtype"])
    if is_remote(out):
        upload(target, out)
    return f"{out}: {audio.shape[1] / composer.sample_rate:.2f} s"


def _read_inputs(
    shots: str | None,
    *,
    video: str | None,
    fps: str | None,
    start_tc: str | None,
    config_file: str | None,
    overrides: dict[str, Any],
    picture: bool = True,
) -> tuple[dict[str, Any], Any, dict[str, Any], Any, list[Any], Any]:
    """What `check` and `explain` both read: config, backend, vocabulary, video, scenes,
    and with no shot list the picture's reading (its scenes; none if not `picture`)."""
    from scoreflow import config
    from scoreflow.tasks.audio.media import probe
    from scoreflow.tasks.cloud.storage import fetch, work_dir
    from scoreflow.tasks.engines import get_backend
    from scoreflow.tasks.interchange.shotlist import read_shotlist

    guide = overrides.pop("guide", None)
    cfg = config.load_config(config_file, {"pipeline": overrides, "ace-step": {"guide": guide}})
    engine = get_backend(cfg)
    vocab = config.styles(cfg["composer"]["styles"])
    if shots is None and not video:
        raise InputError(
            "no shot list and no video",
            field="--shots",
            fix="Give --shots FILE, or --video VIDEO to read the scenes from the picture",
        )
    video_p = fetch(video, work_dir(), what="video") if video else None
    info = probe(video_p) if video_p else None
    if shots is not None:
        scenes = read_shotlist(
            fetch(shots, work_dir(), what="shot list"), fps=fps, media=info, start_tc=start_tc
        )
        return cfg, engine, vocab, info, scenes, None
    if not picture or video_p is None or info is None:
        return cfg, engine, vocab, info, [], None
    from scoreflow.tasks.picture import reading as pic

    reading = pic.read_with(video_p, cfg)
    scenes = pic.scenes_for(reading, info, start_tc=start_tc, genre=cfg["picture"]["genre"])
    return cfg, engine, vocab, info, scenes, reading


def check(
    shots: str | None,
    *,
    video: str | None,
    fps: str | None,
    config_file: str | None,
    start_tc: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    preset: str | None = None,
    guide: str | None = None,
    picture: bool = True,
) -> list[str]:
    """Validate everything a run needs without running it; return lines to print. With
    no shot list, the scenes are read from the picture (unless not `picture`: `score`
    leaves that to the run)."""
    from scoreflow.tasks.audio.media import describe
    from scoreflow.tasks.music.brief import make_brief

    cfg, engine, vocab, info, scenes, reading = _read_inputs(
        shots,
        video=video,
        fps=fps,
        start_tc=start_tc,
        config_file=config_file,
        overrides={"backend": backend, "model": model, "preset": preset, "guide": guide},
        picture=picture,
    )
    warn_about(engine)
    if info is not None:
        from scoreflow.tasks.audio.mux import check_audio_options

        out = cfg["output"]
        check_audio_options(info.container, out["audio_codec"], out["audio_bitrate"])
    lines = [f"backend: {_ready(engine)}"]
    lines += [f"video: {describe(info)}"] if info else []
    if reading is not None:
        from scoreflow.tasks.picture.reading import summary as picture_summary

        lines.append(f"picture: {picture_summary(reading)}")
    elif shots is None:
        lines.append("scenes: read from the picture by the run")
    for s in scenes:
        b = make_brief(s, vocab=vocab) if s.music else None
        music = f"{b.genre}/{b.mood} {b.tempo_bpm:g} bpm {b.key} {b.mode}" if b else "no music"
        lines.append(f"  {s.id:>8}  {s.tc_in} - {s.tc_out}  {s.duration_s:7.2f} s  {music}")
    lines.append(f"OK: {len(scenes)} scenes, {sum(s.music for s in scenes)} with music")
    return lines


def warn_about(engine: Any) -> None:
    """The backend's warnings on the terminal: weights not for commercial use, and its own
    notices (e.g. the composer playing the thin fallback SoundFont)."""
    if not engine.commercial_use:
        print(f"scoreflow: warning: {engine.licence}: not for commercial use", file=sys.stderr)
    for notice in getattr(engine, "notices", []):
        print(f"scoreflow: note: {notice}", file=sys.stderr)


def _ready(engine: Any) -> str:
    """What the backend is, after proving it can run where it can prove it cheaply."""
    self_check = getattr(engine, "self_check", None)
    if self_check is not None:
        return str(self_check())
    return f"{engine.name}: {engine.model} loaded ({engine.licence})"


def explain(
    shots: str | None,
    *,
    video: str | None,
    fps: str | None,
    config_file: str | None,
    seed: int | None,
    start_tc: str | None = None,
    run: str | None = None,
) -> list[str]:
    """How each scene's words were read (its brief) and, for the composer, its plan; with
    `run` (a scored run's folder), each cue's measured quality."""
    from scoreflow.tasks.engines.composer import Composer
    from scoreflow.tasks.music.brief import explain as explain_brief
    from scoreflow.tasks.music.brief import link_briefs, make_brief
    from scoreflow.tasks.timeline.model import scene_seed

    cfg, engine, vocab, _, scenes, reading = _read_inputs(
        shots,
        video=video,
        fps=fps,
        start_tc=start_tc,
        config_file=config_file,
        overrides={"seed": seed},
    )
    measured: dict[str, Any] = {}
    if run is not None:
        from scoreflow.flows.revise import load_run

        measured = {
            x["id"]: x["cue"].get("quality") for x in load_run(run)["scenes"] if x.get("cue")
        }
    music = [s for s in scenes if s.music]
    linked = link_briefs(music, [make_brief(s, vocab=vocab) for s in music])
    briefs = {s.id: b for s, b in zip(music, linked, strict=True)}
    lines: list[str] = []
    spots = dict(zip((s.id for s in scenes), reading.spots, strict=True)) if reading else {}
    if reading is not None:
        from scoreflow.tasks.picture.reading import summary as picture_summary

        lines.append(f"picture: {picture_summary(reading)}")
        lines.append("")
    for s in scenes:
        brief = briefs.get(s.id)
        lines += explain_brief(s, brief)
        if s.id in spots:
            lines += [f"  picture: {why}" for why in spots[s.id].why]
            figures = spots[s.id].figures
            lines.append(
                "  picture figures: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
            )
            lines += [f"  picture hit: {why}" for why in spots[s.id].hit_why]
        if brief is not None and isinstance(engine, Composer):
            start, end = s.sample_span(engine.sample_rate)
            seconds = (end - start) / engine.sample_rate
            plan, _ = engine.compose(
                brief, seconds=seconds, seed=scene_seed(cfg["pipeline"]["seed"], s)
            )
            lines += plan.summary()
        lines += quality_lines(measured.get(s.id))
        lines.append("")
    return lines


def quality_lines(q: dict[str, Any] | None) -> list[str]:
    """A cue's measured quality, for `explain`."""
    if not q:
        return []
    parts = ", ".join(f"{k} {v:.2f}" for k, v in q["scores"].items())
    lines = [f"  quality {q['overall']:.2f} ({parts})"]
    a = q.get("adherence", {})
    if a:
        lines.append(
            f"    measured {a['tempo_bpm']} bpm ({a['tempo_error_pct']}% off), key {a['key']} "
            f"({a['key_match']}), energy curve match {a['curve_match']}"
        )
    lines += [f"    failed: {f}" for f in q["failures"]]
    lines += [f"    not measured: {u}" for u in q["unmeasured"]]
    return lines


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP): unwound like Ctrl-C, so the run folder, partial files and the
    temporary Prefect server are cleaned up on the way out."""


_SIGNALLED: list[int] = []


def _terminate(signum: int, frame: Any) -> None:
    _SIGNALLED.append(signum)
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)
        _watch_signals()
    try:
        return COMMANDS[args.command](args)
    except BaseException as exc:
        stop = _stopped_by(exc)
        if stop is not None:  # however the engine rewrapped it
            how = "interrupted" if stop == signal.SIGINT else "terminated"
            print(f"scoreflow: stopped ({how}); the output folder is as it was", file=sys.stderr)
            return 128 + stop
        return _failure(exc, debug=args.debug)


_WAKEUP: list[int] = []  # the read end of a pipe the interpreter writes each signal to


def _watch_signals() -> None:
    """Have the interpreter note every signal it catches in a pipe, whichever Python
    handler is installed then (Prefect swaps in its own SIGTERM handler during a flow)."""
    if _WAKEUP:
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:
        os.close(read)
        os.close(write)
        return
    _WAKEUP.append(read)


def _caught_signals() -> list[int]:
    if not _WAKEUP:
        return []
    try:
        return list(os.read(_WAKEUP[0], 256))
    except BlockingIOError:
        return []


def _stopped_by(exc: BaseException) -> int | None:
    """The signal that ended the run, if one did: ours (`_terminate`), Ctrl-C, or Prefect's
    own SIGTERM bridge (its TerminationSignal, which the engine may re-raise as something
    else while it unwinds: found in the exception's chain)."""
    caught = [*_SIGNALLED, *(s for s in _caught_signals() if s in (signal.SIGTERM, signal.SIGHUP))]
    if caught:
        return caught[0]
    seen: BaseException | None = exc
    for _ in range(32):
        if seen is None:
            return None
        if type(seen).__name__ == "TerminationSignal":
            return int(getattr(seen, "signal", signal.SIGTERM))
        if isinstance(seen, KeyboardInterrupt):
            return signal.SIGINT
        seen = seen.__cause__ or seen.__context__
    return None


def _failure(exc: BaseException, *, debug: bool) -> int:
    """One line for a failure, and the exit code: 2 bad input, 1 anything else (a bug or
    an environment fault shows its traceback only with --debug)."""
    if isinstance(exc, InputError):
        print(f"scoreflow: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, ScoreflowError):
        print(f"scoreflow: failed: {exc}", file=sys.stderr)
        return 1
    if debug or not isinstance(exc, Exception):
        raise exc
    print(
        f"scoreflow: failed: {type(exc).__name__}: {exc}\n"
        "(run again with --debug for the traceback)",
        file=sys.stderr,
    )
    return 1


@contextlib.contextmanager
def _prefect(args: argparse.Namespace, *, quiet: bool) -> Iterator[None]:
    """Settings before Prefect is imported (telemetry is off: `scoreflow.flows`): its console
    log only with --debug (the UI still gets every line); a running `scoreflow server`, else
    a temporary one for this run, stopped when it ends (`server.temporary_server`)."""
    if quiet and not args.debug:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from scoreflow.flows import server

    if server.configured_api() is not None:
        yield
        return
    if quiet:
        print(
            "scoreflow: starting a temporary Prefect server (5-20 s); "
            "`scoreflow server start` keeps one running for every run",
            file=sys.stderr,
        )
    with server.temporary_server():
        yield


def _score(args: argparse.Namespace) -> int:
    _check_command(args, picture=False)  # everything validated before the Prefect engine starts
    _check_output(args)
    with _prefect(args, quiet=True):
        from scoreflow.flows import progress
        from scoreflow.flows.score import score_video

        with progress.report_to(progress.Terminal()):
            manifest = score_video(
                video=args.video,
                shots=args.shots,
                out=args.out,
                config_file=args.config,
                backend=args.backend,
                model=args.model,
                preset=args.preset,
                guide=args.guide,
                fps=args.fps,
                start_tc=args.start_tc,
                seed=args.seed,
                keep_original_audio=args.keep_original_audio,
                allow_qc_fail=args.allow_qc_fail,
                takes=args.takes,
            )
    print(summary(manifest))
    return 0


def _revise(args: argparse.Namespace) -> int:
    """`pick` and `revise`: checked, then the run scored again with the change."""
    from scoreflow.flows import revise

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
    manifest = revise.load_run(args.out)
    music = {s["id"] for s in manifest["scenes"] if s.get("cue")}
    if args.scene is not None and args.scene not in music:
        raise InputError(
            "no music scene with this id in the run",
            field="--scene",
            value=args.scene,
            fix=f"Use one of {', '.join(sorted(music))}",
        )
    if args.command == "pick":
        count = len(
            next(s for s in manifest["scenes"] if s["id"] == args.scene)["cue"].get("takes", [None])
        )
        if not 1 <= args.take <= count:
            raise InputError(
                f"scene {args.scene} has takes 1 to {count}",
                field="--take",
                value=args.take,
                fix=f"Pick a take from 1 to {count} (score with --takes N for more)",
            )
    state = revise.revised(
        manifest,
        scene=args.scene,
        note=getattr(args, "note", None),
        take=getattr(args, "take", None),
        undo=getattr(args, "undo", False),
        who=args.by,
    )
    with _prefect(args, quiet=True):
        from scoreflow.flows import progress

        with progress.report_to(progress.Terminal()):
            result = revise.rerun(args.out, manifest, state, allow_qc_fail=args.allow_qc_fail)
    entry = result["revision"]["history"][-1]
    what = (
        f"undid revision {entry['undo']}" if "undo" in entry
        else f"scene {entry['scene']}: take {entry['take']}" if "take" in entry
        else f"scene {entry['scene']}: " + ("; ".join(entry.get("changed", [])) or "no change")
    )  # fmt: skip
    print(f"revision {entry['number']}: {what}")
    print(summary(result))
    return 0


def _check_command(args: argparse.Namespace, *, picture: bool = True) -> int:
    lines = check(
        args.shots,
        picture=picture,
        video=args.video,
        fps=args.fps,
        config_file=args.config,
        start_tc=args.start_tc,
        backend=args.backend,
        model=args.model,
        preset=args.preset,
        guide=args.guide,
    )
    print("\n".join(lines))
    return 0


def _explain(args: argparse.Namespace) -> int:
    lines = explain(
        args.shots,
        video=args.video,
        fps=args.fps,
        config_file=args.config,
        seed=args.seed,
        start_tc=args.start_tc,
        run=args.out,
    )
    print("\n".join(lines))
    return 0


def _batch(args: argparse.Namespace) -> int:
    """One pass over a folder, `--concurrency` pairs at once; 1 when any pair failed."""
    if not 1 <= args.concurrency <= 64:
        raise InputError(
            "must be between 1 and 64", field="--concurrency", value=args.concurrency,
            fix="Give how many pairs to score at once, e.g. the machine's cores",
        )  # fmt: skip
    with _prefect(args, quiet=False):
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
    with _prefect(args, quiet=False):
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
    with _prefect(args, quiet=False):
        from scoreflow.flows.watch import serve

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


def library_plan(args: argparse.Namespace) -> list[str]:
    """Validate a library brief (and the backend) and describe the plan: tracks x versions."""
    from scoreflow import config
    from scoreflow.tasks.cloud.storage import fetch, work_dir
    from scoreflow.tasks.library.plan import read_brief

    cfg = config.load_config(args.config, {"pipeline": {"backend": args.backend}})
    path = fetch(args.brief, work_dir(), what="library brief")
    try:
        plan = read_brief(
            path,
            cfg=cfg,
            vocab=config.styles(cfg["composer"]["styles"]),
            tracks=args.tracks,
            seed=args.seed,
        )
    except InputError as exc:
        raise exc.renamed(str(path), args.brief) if str(path) != args.brief else exc from None
    notes = []
    if cfg["pipeline"]["backend"] != "composer":
        from scoreflow.tasks.engines import get_backend

        engine = get_backend(cfg)
        warn_about(engine)
        notes = [
            f"backend: {_ready(engine)}",
            f"  {engine.name} gives audio only: main versions only; cutdowns, sting, loops, "
            "alternate mixes, stems and MIDI are listed as not made (--backend composer "
            "makes them all)",
        ]
    versions = plan.versions()
    d = plan.delivery
    lines = [
        f"{args.brief}: {len(plan.tracks)} tracks x {len(versions)} versions "
        f"({', '.join(versions)}); stems {'for main and loops' if d.stems else 'none'}; "
        f"{' + '.join(d.formats)} at {d.target_lufs:g} LUFS, {d.true_peak_dbtp:g} dBTP"
    ]
    for t in plan.tracks:
        b = t.brief
        lines.append(
            f"  {t.id}: {t.title or '(title generated)'}; {b.genre}, {b.mood}, "
            f"{b.tempo_bpm:g} bpm, {b.key} {b.mode}, main {t.main_s:g} s, seed {t.seed}; "
            f"{', '.join(b.instruments)}"
        )
    return [*lines[:1], *notes, *lines[1:]]


def _library(args: argparse.Namespace) -> int:
    lines = library_plan(args)
    if args.check:
        print("\n".join(lines))
        return 0
    if not args.out:
        raise InputError(
            "no catalogue folder", field="--out", fix="Give --out DIR or an s3:// prefix"
        )
    _check_output(
        argparse.Namespace(out=args.out, video=None, shots=args.brief, config=args.config)
    )
    print(lines[0], file=sys.stderr)
    with _prefect(args, quiet=True):
        from scoreflow.flows import progress
        from scoreflow.flows.library import make_library

        with progress.report_to(progress.Terminal()):
            result = make_library(
                brief=args.brief,
                out=args.out,
                config_file=args.config,
                backend=args.backend,
                tracks=args.tracks,
                add=args.add,
                seed=args.seed,
            )
    n = len(result["tracks"])
    files = sum(len(t["rows"]) for t in result["tracks"])
    out = args.out.rstrip("/")
    print(f"\nCatalogue: {out}/catalog.csv ({n} tracks, {files} files), {out}/catalog.json")
    print(f"Browse:    {out}/index.html")
    return 0


def _render(args: argparse.Namespace) -> int:
    print(render(args.midi, out=args.out, seconds=args.seconds, config_file=args.config))
    return 0


def _server(args: argparse.Namespace) -> int:
    from scoreflow.flows import server

    if args.action == "start":
        record = server.start(port=args.port)
        print(f"Prefect server running: {record['api_url'].removesuffix('/api')} "
              f"(pid {record['pid']}, log {record['log']}); runs use it until "
              "`scoreflow server stop`")  # fmt: skip
    elif args.action == "stop":
        print("stopped" if server.stop() else "no scoreflow server was running")
    else:
        running = server.status()
        print(f"running: {running['api_url']} (pid {running['pid']})" if running else "not running")
        return 0 if running else 3
    return 0


def _check_output(args: argparse.Namespace) -> None:
    """Exit 2 before any work if the output folder cannot be written (or its bucket does
    not exist), or an output would replace an input (the flow checks again, with the
    config's styles and SoundFont too)."""
    from pathlib import Path

    from scoreflow.tasks.cloud.storage import check_writable, is_remote
    from scoreflow.tasks.delivery.outdir import refuse_inputs_in_the_way

    check_writable(args.out)
    if is_remote(args.out):
        return
    given = {"video": args.video, "shot list": args.shots, "config": args.config}
    local = {what: Path(p) for what, p in given.items() if p and not is_remote(p)}
    refuse_inputs_in_the_way(Path(args.out), local)


def _cuts(args: argparse.Namespace) -> int:
    """Read the picture; write the proposed shot list (and .otio/.edl) atomically, never
    over the video or, without --force, over a file that is there."""
    from pathlib import Path

    from scoreflow import config
    from scoreflow.tasks.cloud.storage import atomic_path, fetch, work_dir
    from scoreflow.tasks.interchange import cutlist
    from scoreflow.tasks.picture import reading as pic

    kinds = [(Path(o), cutlist.format_for(o)) for o in args.out]
    cfg = config.load_config(args.config)
    video = fetch(args.video, work_dir(), what="video")
    for path, _ in kinds:
        if path.exists() and (path.resolve() == Path(video).resolve() or not args.force):
            raise InputError("the file is there already", field="--out", value=str(path),
                             fix="Give another name, or --force to replace it")  # fmt: skip
    reading = pic.read_with(video, cfg)
    info = reading.source.media_info()
    scenes = pic.scenes_for(reading, info, start_tc=args.start_tc, genre=cfg["picture"]["genre"])
    print(f"scoreflow: {pic.summary(reading)}", file=sys.stderr)
    if not kinds:
        sys.stdout.write(cutlist.render("csv", scenes, reading))
    for path, kind in kinds:
        with atomic_path(path, inputs=[Path(video)]) as tmp:
            tmp.write_text(cutlist.render(kind, scenes, reading))
        print(f"wrote {path}", file=sys.stderr)
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


def _cache(args: argparse.Namespace) -> int:
    from scoreflow import config
    from scoreflow.flows import cache

    cfg = config.load_config(args.config)
    folder = config.cache_dir(cfg)
    if cfg["cache"]["storage"]:
        print(f"cues are kept in the Prefect block {cfg['cache']['storage']}: expire them "
              "with the bucket's lifecycle rules")  # fmt: skip
    if args.action == "info":
        files, size = cache.usage(folder)
        print(f"{folder}: {files} files, {size / 1e6:.1f} MB; "
              f"cues expire after {cfg['cache']['expire_days']:g} days")  # fmt: skip
        return 0
    days = cfg["cache"]["expire_days"] if args.older_than is None else args.older_than
    if days < 0:
        raise InputError("must be 0 or more", field="--older-than", value=days)
    files, size = cache.prune(folder, older_than_days=days, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{folder}: {verb} {files} files ({size / 1e6:.1f} MB) older than {days:g} days")
    return 0


COMMANDS = {
    "score": _score,
    "check": _check_command,
    "pick": _revise,
    "revise": _revise,
    "explain": _explain,
    "watch": _watch,
    "batch": _batch,
    "serve": _serve,
    "render": _render,
    "library": _library,
    "server": _server,
    "cache": _cache,
    "verify": _verify,
    "cuts": _cuts,
}


def summary(manifest: dict[str, Any]) -> str:
    """Where a run's results are, for the terminal."""
    from scoreflow.tasks.delivery.deliver import scored_video

    out = manifest["location"].rstrip("/")
    scored = scored_video(manifest)
    loud, qc = manifest["loudness"], manifest["qc"]["main"]
    lines = [
        f"\nScored video: {out}/{scored}",
        f"Delivered:    {out}/{manifest['mux']['audio']} ({qc['integrated_lufs']:.1f} LUFS, "
        f"true peak {qc['true_peak_dbtp']:.1f} dBTP by ffmpeg; preset {loud['preset']})",
    ]
    if "mix.wav" in manifest["outputs"]:
        lines.append(f"Music only:   {out}/soundtrack.wav   Stems: {out}/stems/")
    if "score.otio" in manifest["outputs"]:
        lines.append(
            f"For the NLE:  {out}/score.xml (FCP 7 XML), score.fcpxml, score.otio, music.edl"
        )
    lines.append(f"Report:       {out}/report.html   Manifest: {out}/manifest.json")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
