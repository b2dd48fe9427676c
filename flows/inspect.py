"""What the `scoreflow` command shows and checks without running a flow: a shot list's or a
picture's scenes and briefs (`check`, `explain`), a library's plan, a MIDI file rendered,
and a finished run's summary (the picture's cuts for `cuts`: `flows.cuts`).

Plain functions of plain values that return the lines to print; the command
(`scoreflow.flows.cli`) parses, calls them and prints. The backend's own warnings go to
standard error as they are found (`warn_about`), before any later check can fail.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoreflow.tasks.errors import InputError

if TYPE_CHECKING:  # the command imports this module on every start: pydantic only when used
    from scoreflow.config.settings import Settings


@dataclass(frozen=True)
class Inputs:
    """What `check` and `explain` both read: config, backend, vocabulary, the video's
    media info, scenes, and with no shot list the picture's reading (else None)."""

    cfg: Settings
    engine: Any
    vocab: Any
    info: Any
    scenes: list[Any]
    reading: Any


@dataclass(frozen=True)
class Source:
    """Where the scenes come from: a shot list (or cut) and how to read it, or the video's
    picture; and the project config."""

    shots: str | None
    video: str | None
    fps: str | None
    start_tc: str | None
    config_file: str | None


def read_inputs(source: Source, *, overrides: dict[str, Any], picture: bool = True) -> Inputs:
    """Read the config, backend and scenes; with no shot list the scenes are read from the
    picture (none if not `picture`)."""
    from scoreflow import config
    from scoreflow.flows import settings
    from scoreflow.tasks.audio.media import probe
    from scoreflow.tasks.cloud.storage import fetch, work_dir
    from scoreflow.tasks.engines import get_backend
    from scoreflow.tasks.interchange.shotlist import read_shotlist

    shots, video, start_tc = source.shots, source.video, source.start_tc
    guide = overrides.pop("guide", None)
    cfg = settings.load(source.config_file, {"pipeline": overrides, "ace-step": {"guide": guide}})
    engine = get_backend(cfg)
    vocab = config.styles(cfg.composer.styles)
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
            fetch(shots, work_dir(), what="shot list"),
            fps=source.fps,
            media=info,
            start_tc=start_tc,
        )
        return Inputs(cfg, engine, vocab, info, scenes, None)
    if not picture or video_p is None or info is None:
        return Inputs(cfg, engine, vocab, info, [], None)
    from scoreflow.tasks.picture import reading as pic

    reading = pic.read_with(video_p, cfg)
    scenes = pic.scenes_for(reading, info, start_tc=start_tc, genre=cfg.picture.genre)
    return Inputs(cfg, engine, vocab, info, scenes, reading)


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

    source = Source(shots, video, fps, start_tc, config_file)
    overrides = {"backend": backend, "model": model, "preset": preset, "guide": guide}
    got = read_inputs(source, overrides=overrides, picture=picture)
    warn_about(got.engine)
    if got.info is not None:
        from scoreflow.tasks.audio.mux import check_audio_options

        out = got.cfg.output
        check_audio_options(got.info.container, out.audio_codec, out.audio_bitrate)
    lines = [f"backend: {_ready(got.engine)}"]
    lines += [f"video: {describe(got.info)}"] if got.info else []
    if got.reading is not None:
        lines.append(f"picture: {picture_summary(got.reading)}")
    elif shots is None:
        lines.append("scenes: read from the picture by the run")
    return lines + _scene_lines(got.scenes, got.vocab)


def _scene_lines(scenes: list[Any], vocab: Any) -> list[str]:
    """One line per scene (its span and its brief's music), then the count."""
    from scoreflow.tasks.music.brief import make_brief

    lines = []
    for s in scenes:
        b = make_brief(s, vocab=vocab) if s.music else None
        music = f"{b.genre}/{b.mood} {b.tempo_bpm:g} bpm {b.key} {b.mode}" if b else "no music"
        lines.append(f"  {s.id:>8}  {s.tc_in} - {s.tc_out}  {s.duration_s:7.2f} s  {music}")
    lines.append(f"OK: {len(scenes)} scenes, {sum(s.music for s in scenes)} with music")
    return lines


def picture_summary(reading: Any) -> str:
    from scoreflow.tasks.picture.reading import summary as picture_summary

    return str(picture_summary(reading))


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
    from scoreflow.tasks.music.brief import explain as explain_brief
    from scoreflow.tasks.music.brief import link_briefs, make_brief

    got = read_inputs(Source(shots, video, fps, start_tc, config_file), overrides={"seed": seed})
    measured = _measured(run) if run is not None else {}
    music = [s for s in got.scenes if s.music]
    linked = link_briefs(music, [make_brief(s, vocab=got.vocab) for s in music])
    briefs = {s.id: b for s, b in zip(music, linked, strict=True)}
    lines: list[str] = []
    reading = got.reading
    spots = dict(zip((s.id for s in got.scenes), reading.spots, strict=True)) if reading else {}
    if reading is not None:
        lines += [f"picture: {picture_summary(reading)}", ""]
    for s in got.scenes:
        brief = briefs.get(s.id)
        lines += explain_brief(s, brief)
        if s.id in spots:
            lines += _spot_lines(spots[s.id])
        if brief is not None:
            lines += _plan_lines(got.engine, got.cfg, s, brief)
        lines += quality_lines(measured.get(s.id))
        lines.append("")
    return lines


def _measured(run: str) -> dict[str, Any]:
    """Each cue's measured quality in a scored run, by scene id."""
    from scoreflow.flows.revise import load_run

    return {x["id"]: x["cue"].get("quality") for x in load_run(run)["scenes"] if x.get("cue")}


def _spot_lines(spot: Any) -> list[str]:
    """Why the picture asked for music in a scene, its figures and its hit."""
    lines = [f"  picture: {why}" for why in spot.why]
    lines.append("  picture figures: " + ", ".join(f"{k} {v:.2f}" for k, v in spot.figures.items()))
    return lines + [f"  picture hit: {why}" for why in spot.hit_why]


def _plan_lines(engine: Any, cfg: Settings, scene: Any, brief: Any) -> list[str]:
    """The composer's plan for a scene's cue (nothing for another backend)."""
    from scoreflow.tasks.engines.composer import Composer
    from scoreflow.tasks.timeline.model import scene_seed

    if not isinstance(engine, Composer):
        return []
    start, end = scene.sample_span(engine.sample_rate)
    seconds = (end - start) / engine.sample_rate
    plan, _ = engine.compose(brief, seconds=seconds, seed=scene_seed(cfg.pipeline.seed, scene))
    return list(plan.summary())


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


def render(midi: str, *, out: str, seconds: float | None, config_file: str | None) -> str:
    """Render a MIDI file to a WAV through the composer's SoundFont and room."""
    from scoreflow.flows import settings
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

    cfg = settings.load(config_file)
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
    write_wav(target, audio, composer.sample_rate, subtype=cfg.output.wav_subtype)
    if is_remote(out):
        upload(target, out)
    return f"{out}: {audio.shape[1] / composer.sample_rate:.2f} s"


def check_output(
    out: str, *, video: str | None, shots: str | None, config_file: str | None
) -> None:
    """Raise before any work if the output folder cannot be written (or its bucket does
    not exist), or an output would replace an input (the flow checks again, with the
    config's styles and SoundFont too)."""
    from scoreflow.tasks.cloud.storage import check_writable, is_remote
    from scoreflow.tasks.delivery.outdir import refuse_inputs_in_the_way

    check_writable(out)
    if is_remote(out):
        return
    given = {"video": video, "shot list": shots, "config": config_file}
    local = {what: Path(p) for what, p in given.items() if p and not is_remote(p)}
    refuse_inputs_in_the_way(Path(out), local)


def library_plan(
    brief: str,
    *,
    config_file: str | None,
    backend: str | None,
    tracks: int | None,
    seed: int | None,
) -> list[str]:
    """Validate a library brief (and the backend) and describe the plan: tracks x versions."""
    from scoreflow import config
    from scoreflow.flows import settings
    from scoreflow.tasks.cloud.storage import fetch, work_dir
    from scoreflow.tasks.library.plan import read_brief

    cfg = settings.load(config_file, {"pipeline": {"backend": backend}})
    path = fetch(brief, work_dir(), what="library brief")
    try:
        plan = read_brief(
            path, cfg=cfg, vocab=config.styles(cfg.composer.styles), tracks=tracks, seed=seed
        )
    except InputError as exc:
        raise exc.renamed(str(path), brief) if str(path) != brief else exc from None
    notes = _library_backend_notes(cfg)
    versions = plan.versions()
    d = plan.delivery
    lines = [
        f"{brief}: {len(plan.tracks)} tracks x {len(versions)} versions "
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


def _library_backend_notes(cfg: Settings) -> list[str]:
    """What a backend other than the composer leaves out of a library (and its warnings)."""
    if cfg.pipeline.backend == "composer":
        return []
    from scoreflow.tasks.engines import get_backend

    engine = get_backend(cfg)
    warn_about(engine)
    return [
        f"backend: {_ready(engine)}",
        f"  {engine.name} gives audio only: main versions only; cutdowns, sting, loops, "
        "alternate mixes, stems and MIDI are listed as not made (--backend composer "
        "makes them all)",
    ]


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
