"""The `scoreflow` command.

    scoreflow score VIDEO --shots FILE --out DIR [--config FILE] [--backend NAME]
                    [--model ID_OR_PATH] [--preset NAME] [--fps RATE] [--start-tc TC]
                    [--seed N] [--keep-original-audio]
    scoreflow check --shots FILE [--video VIDEO] [--fps RATE] [--start-tc TC]
    scoreflow explain --shots FILE [--video VIDEO] [--fps RATE] [--start-tc TC]
                      [--config FILE] [--seed N]
    scoreflow render MIDI --out WAV [--seconds S] [--config FILE]
    scoreflow watch (--queue SQS_URL | --poll FOLDER_OR_PREFIX) [--out URI] [--prefix P]
                    [--max-tries N] [--dead-letter URI] [--state URI] [--every S] [--once]
    scoreflow serve --folder FOLDER_OR_PREFIX [--queue SQS_URL] [--out URI]
                    [--cron "0 2 * * *" | --interval S]

Paths may be s3://bucket/key URIs.

Bad input is reported as one message without a traceback (exit 2); other failures exit 1.
Inputs are validated before the Prefect engine starts, so a typo fails in a second.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from scoreflow.tasks.errors import InputError, ScoreflowError

SHOTS_HELP = "shot list (.csv .tsv .json .yaml) or cut (.edl .xml .fcpxml .otio)"
START_HELP = "timecode of the video's first frame, e.g. 01:00:00:00 (default: the video's own)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scoreflow", description="Score a video from a shot list.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score a video end to end")
    s.add_argument("video")
    s.add_argument("--shots", required=True, help=SHOTS_HELP)
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--config", help="project config (TOML), overrides config/defaults.toml")
    s.add_argument("--backend", help="music backend (default: composer)")
    s.add_argument("--model", help="backend model id or path")
    s.add_argument(
        "--preset", help="loudness preset: ebu-r128, atsc-a85, streaming, netflix, custom"
    )
    s.add_argument("--fps", help="frame rate of the shot list, e.g. 23.976 or 30000/1001")
    s.add_argument("--start-tc", help=START_HELP)
    s.add_argument("--seed", type=int, help="base seed (each scene derives its own)")
    s.add_argument(
        "--keep-original-audio",
        action="store_true",
        default=None,
        help="keep the video's own audio as a second track",
    )
    c = sub.add_parser("check", help="validate a shot list (and its fit to a video)")
    c.add_argument("--shots", required=True, help=SHOTS_HELP)
    c.add_argument("--video")
    c.add_argument("--fps")
    c.add_argument("--start-tc", help=START_HELP)
    c.add_argument("--config")
    c.add_argument("--backend", help="check this backend can be built (model present)")
    c.add_argument("--model")
    e = sub.add_parser(
        "explain", help="show how each scene's words were read, and the composer's plan"
    )
    e.add_argument("--shots", required=True, help=SHOTS_HELP)
    e.add_argument("--video")
    e.add_argument("--fps")
    e.add_argument("--start-tc", help=START_HELP)
    e.add_argument("--config")
    e.add_argument("--seed", type=int, help="base seed, as for score")
    w = sub.add_parser("watch", help="score uploads as they arrive (S3 events or polling)")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--queue", help="SQS queue URL receiving the bucket's ObjectCreated events")
    src.add_argument("--poll", help="folder or s3:// prefix to list for new pairs")
    _batch_options(w)
    w.add_argument("--prefix", default="", help="with --queue: only keys under it (incoming/)")
    w.add_argument("--every", type=float, default=60.0, help="with --poll: seconds between passes")
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    v = sub.add_parser("serve", help="serve scheduled scoring as Prefect deployments")
    v.add_argument("--folder", required=True, help="folder or s3:// prefix scored on schedule")
    v.add_argument("--queue", help="also serve the upload queue (every minute)")
    v.add_argument("--prefix", default="", help="with --queue: only keys under it")
    when = v.add_mutually_exclusive_group()
    when.add_argument("--cron", help='cron schedule, e.g. "0 2 * * *" (nightly at 02:00)')
    when.add_argument("--interval", type=float, help="seconds between runs")
    _batch_options(v, tries=False)
    r = sub.add_parser("render", help="render a (cue) MIDI file with the composer's SoundFont")
    r.add_argument("midi")
    r.add_argument("--out", required=True, help="WAV file to write (48 kHz, 24-bit)")
    r.add_argument("--seconds", type=float, help="length (default: the last note-off)")
    r.add_argument("--config")
    return p


def _batch_options(p: argparse.ArgumentParser, *, tries: bool = True) -> None:
    p.add_argument("--out", help="where runs go (default: scored/ beside the watched prefix)")
    p.add_argument("--config", help="project config (TOML) for every run")
    p.add_argument("--preset", help="loudness preset for every run")
    p.add_argument("--backend", help="music backend for every run")
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

    options = _run_options(args)
    common = {"out": args.out, "max_tries": args.max_tries, "dead_letter": args.dead_letter}
    common |= {"state": args.state, "options": options}
    while True:
        if args.queue:
            report = score_uploads(args.queue, prefix=args.prefix, **common)
        else:
            report = score_new(args.poll, **common)
        for item in report:
            print(f"{item['what']}: {item.get('pair') or item.get('uploads')} {item.get('to', '')}")
        if args.once:
            return 0
        if args.poll:
            time.sleep(args.every)


def render(midi: str, *, out: str, seconds: float | None, config_file: str | None) -> str:
    """Render a MIDI file to a WAV through the composer's SoundFont and room."""
    from scoreflow import config
    from scoreflow.tasks.backends.composer import Composer
    from scoreflow.tasks.deliver import write_wav
    from scoreflow.tasks.storage import (
        S3Uri,
        check_not_input,
        fetch,
        is_remote,
        local_path,
        upload,
        work_dir,
    )

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
    shots: str,
    *,
    video: str | None,
    fps: str | None,
    start_tc: str | None,
    config_file: str | None,
    overrides: dict[str, Any],
) -> tuple[dict[str, Any], Any, dict[str, Any], Any, list[Any]]:
    """What `check` and `explain` both read: config, backend, vocabulary, video, scenes."""
    from scoreflow import config
    from scoreflow.tasks.backends import get_backend
    from scoreflow.tasks.media import probe
    from scoreflow.tasks.shotlist import read_shotlist
    from scoreflow.tasks.storage import fetch, work_dir

    cfg = config.load_config(config_file, {"pipeline": overrides})
    engine = get_backend(cfg)
    vocab = config.styles(cfg["composer"]["styles"])
    info = probe(fetch(video, work_dir(), what="video")) if video else None
    scenes = read_shotlist(
        fetch(shots, work_dir(), what="shot list"), fps=fps, media=info, start_tc=start_tc
    )
    return cfg, engine, vocab, info, scenes


def check(
    shots: str,
    *,
    video: str | None,
    fps: str | None,
    config_file: str | None,
    start_tc: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    preset: str | None = None,
) -> list[str]:
    """Validate everything a run needs without running it; return lines to print."""
    from scoreflow.tasks.brief import make_brief
    from scoreflow.tasks.media import describe

    _, engine, vocab, info, scenes = _read_inputs(
        shots,
        video=video,
        fps=fps,
        start_tc=start_tc,
        config_file=config_file,
        overrides={"backend": backend, "model": model, "preset": preset},
    )
    if not engine.commercial_use:
        print(f"scoreflow: warning: {engine.licence}: not for commercial use", file=sys.stderr)
    lines = [f"video: {describe(info)}"] if info else []
    for s in scenes:
        b = make_brief(s, vocab=vocab) if s.music else None
        music = f"{b.genre}/{b.mood} {b.tempo_bpm:g} bpm {b.key} {b.mode}" if b else "no music"
        lines.append(f"  {s.id:>8}  {s.tc_in} - {s.tc_out}  {s.duration_s:7.2f} s  {music}")
    lines.append(f"OK: {len(scenes)} scenes, {sum(s.music for s in scenes)} with music")
    return lines


def explain(
    shots: str,
    *,
    video: str | None,
    fps: str | None,
    config_file: str | None,
    seed: int | None,
    start_tc: str | None = None,
) -> list[str]:
    """How each scene's words were read (its brief) and, for the composer, its plan."""
    from scoreflow.tasks.backends.composer import Composer
    from scoreflow.tasks.brief import explain as explain_brief
    from scoreflow.tasks.brief import make_brief
    from scoreflow.tasks.model import scene_seed

    cfg, engine, vocab, _, scenes = _read_inputs(
        shots,
        video=video,
        fps=fps,
        start_tc=start_tc,
        config_file=config_file,
        overrides={"seed": seed},
    )
    lines: list[str] = []
    for s in scenes:
        brief = make_brief(s, vocab=vocab) if s.music else None
        lines += explain_brief(s, brief)
        if brief is not None and isinstance(engine, Composer):
            start, end = s.sample_span(engine.sample_rate)
            seconds = (end - start) / engine.sample_rate
            plan, _ = engine.compose(
                brief, seconds=seconds, seed=scene_seed(cfg["pipeline"]["seed"], s)
            )
            lines += plan.summary()
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("watch", "serve"):
            os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if args.command == "watch":
            return watch(args)
        if args.command == "serve":
            from scoreflow.flows.watch import serve

            options = _run_options(args)
            serve(
                folder=args.folder,
                queue_url=args.queue,
                out=args.out,
                cron=args.cron,
                interval_s=args.interval,
                prefix=args.prefix,
                options=options,
            )
            return 0
        if args.command == "render":
            print(render(args.midi, out=args.out, seconds=args.seconds, config_file=args.config))
            return 0
        if args.command == "explain":
            lines = explain(
                args.shots,
                video=args.video,
                fps=args.fps,
                config_file=args.config,
                seed=args.seed,
                start_tc=args.start_tc,
            )
            print("\n".join(lines))
            return 0
        lines = check(
            args.shots,
            video=args.video,
            fps=args.fps,
            config_file=args.config,
            start_tc=args.start_tc,
            backend=getattr(args, "backend", None),
            model=getattr(args, "model", None),
            preset=getattr(args, "preset", None),
        )
        print("\n".join(lines))
        if args.command == "check":
            return 0
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        from scoreflow.flows.score import score_video

        manifest = score_video(
            video=args.video,
            shots=args.shots,
            out=args.out,
            config_file=args.config,
            backend=args.backend,
            model=args.model,
            preset=args.preset,
            fps=args.fps,
            start_tc=args.start_tc,
            seed=args.seed,
            keep_original_audio=args.keep_original_audio,
        )
    except KeyboardInterrupt:
        return 130
    except InputError as exc:
        print(f"scoreflow: error: {exc}", file=sys.stderr)
        return 2
    except ScoreflowError as exc:
        print(f"scoreflow: failed: {exc}", file=sys.stderr)
        return 1
    print(summary(manifest))
    return 0


def summary(manifest: dict[str, Any]) -> str:
    """Where a run's results are, for the terminal."""
    out = manifest["location"].rstrip("/")
    scored = next(k for k in manifest["outputs"] if ".scored." in k)
    loud, qc = manifest["loudness"], manifest["qc"]["main"]
    lines = [
        f"\nScored video: {out}/{scored}",
        f"Delivered:    {out}/{manifest['mux']['audio']} ({qc['integrated_lufs']:.1f} LUFS, "
        f"true peak {qc['true_peak_dbtp']:.1f} dBTP by ffmpeg; preset {loud['preset']})",
    ]
    if "mix.wav" in manifest["outputs"]:
        lines.append(f"Music only:   {out}/soundtrack.wav   Stems: {out}/stems/")
    if "score.otio" in manifest["outputs"]:
        lines.append(f"For the NLE:  {out}/score.xml (FCP 7 XML), score.otio, music.edl")
    lines.append(f"Report:       {out}/report.html   Manifest: {out}/manifest.json")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
