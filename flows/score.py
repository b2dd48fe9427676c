"""The `score_video` Prefect flow: shot list in, scored video out.

The flow is a recipe of stages, each in its own module: the cut read (`flows.scenes`),
the briefs planned with the run's revision (`flows.revise`), the cues made as takes
(`flows.takes`), the programme mixed, the deliverables written, measured and delivered
(`flows.deliverables`). The Prefect tasks are in `flows.stages`, thin wrappers over the
plain functions in `tasks/`; no audio logic lives here. Cue generation is cached on what
defines the music (`flows.cache`) with persisted results, so a re-run with one scene
changed regenerates only that cue.
"""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

from prefect import flow, get_run_logger

from scoreflow.config.settings import Settings
from scoreflow.flows import deliverables, prefect_ui
from scoreflow.flows import settings as run_settings
from scoreflow.flows.revise import check_revision, record_changes
from scoreflow.flows.run import Mixed, Plan, Run, detail, new_run_id, open_run, stage
from scoreflow.flows.scenes import Cut, read_cut
from scoreflow.flows.settings import Flags
from scoreflow.flows.stages import (
    brief_task,
    dialogue_task,
    fetch_task,
    mix_task,
    programme_quality_task,
)
from scoreflow.flows.takes import Made, make_cues
from scoreflow.tasks.audio import mix, spool
from scoreflow.tasks.cloud.storage import work_dir
from scoreflow.tasks.delivery.manifest import RevisionEntry, build_manifest, quality_line
from scoreflow.tasks.quality import measures as quality
from scoreflow.tasks.timeline.timecode import frame_to_sample


@flow(name="score-video", flow_run_name=prefect_ui.run_name)
def score_video(
    video: str,
    shots: str | None,
    out: str,
    config_file: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    preset: str | None = None,
    fps: str | None = None,
    start_tc: str | None = None,
    seed: int | None = None,
    keep_original_audio: bool | None = None,
    guide: str | None = None,
    allow_qc_fail: bool = False,
    takes: int | None = None,
    revision: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Score `video` from the shot list `shots` into the folder `out`; with no `shots`,
    from the scenes, energy and hit points read from the picture (`tasks.picture`).

    With `takes`, each scene gets that many candidates (other seeds), ranked by their
    quality score (`tasks.quality.measures`); the best is used unless `revision` picks another.
    `revision` (what `scoreflow pick` and `revise` pass) holds per-scene ``notes`` merged
    into the briefs, ``picks`` (scene id -> take), and the ``history`` the manifest keeps;
    `settings` are an earlier run's whole settings (its manifest's, as `Settings`), used
    instead of the defaults and `config_file`.

    A run whose deliverables fail QC (loudness off target, true peak over the ceiling,
    clipping, a silent music scene, audio and picture of different lengths) is written and
    its manifest says so, and then it fails, unless `allow_qc_fail`.

    Any of the three may be an ``s3://`` URI. Remote inputs are fetched (once per ETag);
    a remote `out` receives the run under ``out/<run id>/``, its manifest uploaded last.
    Returns the manifest (also written as ``manifest.json``).
    """
    flags: Flags = {
        "pipeline": {"backend": backend, "model": model, "preset": preset, "seed": seed},
        "output": {"keep_original_audio": keep_original_audio},
        "ace-step": {"guide": guide},
    }
    flags["pipeline"]["takes"] = takes
    cfg = run_settings.of_run(config_file, settings, flags)
    prefect_ui.tag_run(cfg)
    work = work_dir()
    video_p = fetch_task(video, work, "video")
    shots_p = fetch_task(shots, work, "shot list") if shots else None
    run_id = new_run_id()
    inputs = {"config": config_file or "", "styles": cfg.composer.styles,
              "SoundFont": cfg.composer.soundfont}  # fmt: skip
    with contextlib.ExitStack() as stack:
        run = open_run(
            stack, cfg=cfg, log=get_run_logger(), given=(video, shots, out),
            fetched=(video_p, shots_p), run_id=run_id, inputs=inputs,
        )  # fmt: skip
        return _score(
            run, fps=fps, start_tc=start_tc, revision=revision or {}, allow_qc_fail=allow_qc_fail
        )


def _score(
    run: Run,
    *,
    fps: str | None,
    start_tc: str | None,
    revision: dict[str, Any],
    allow_qc_fail: bool,
) -> dict[str, Any]:
    """The recipe, inside the run's claimed output folder: read the cut, plan its briefs,
    make the cues, mix, write, measure, record and deliver."""
    cut = read_cut(run, fps=fps, start_tc=start_tc)
    plan = _plan(run, cut, revision)
    made, qualities = _make_music(run, plan)
    mixed = _mix(run, cut, plan, made)
    written = deliverables.write_outputs(run, cut, plan, made, mixed)
    command, qc = deliverables.measure(run, cut, written)
    record = deliverables.manifest_record(
        run, cut, plan, made, mixed, written, command=command, qc=qc, qualities=qualities
    )
    return deliverables.deliver_run(
        run, build_manifest(record), written, revising=plan.revising, allow_qc_fail=allow_qc_fail
    )


def _plan(run: Run, cut: Cut, revision: dict[str, Any]) -> Plan:
    """The music scenes' briefs, with the revision's notes merged in (checked first) and
    its history told what the newest note changed."""
    cfg = run.cfg
    notes, picks = revision.get("notes", {}), revision.get("picks", {})
    music = {s.id for s in cut.scored}
    check_revision(music, scenes=notes, picks=picks, takes=cfg.pipeline.takes)
    reference = quality.load_reference(cfg.quality.reference) or None
    briefs = brief_task(cut.scored, cfg.composer.styles, notes, cfg.pipeline.seed)
    history = record_changes(revision.get("history", []), cut.scored, briefs, notes, cfg)
    entry = RevisionEntry(revision.get("number", 0), notes, picks, history)
    return Plan(cut.scored, briefs, entry, reference, revising=bool(revision))


def _make_music(run: Run, plan: Plan) -> tuple[Made, dict[str, dict[str, Any]]]:
    """Stages 3 and 4: every cue made (its takes, spooled to disk), and their quality
    measured against each other."""
    cfg, log, sr = run.cfg, run.log, run.sample_rate
    backend = cfg.pipeline.backend
    stage(log, 3, "generating %d cues with %s, each fitted to its scene", len(plan.scored), backend)
    spans = {s.id: s.sample_span(sr) for s in plan.scored}
    spool.sweep(work_dir() / "spool")  # what killed runs left a day ago or more
    run.stack.callback(shutil.rmtree, run.spool_dir, ignore_errors=True)
    made = make_cues(plan.scored, plan.briefs, spans, cfg, plan.revision.picks, run.spool_dir)
    qualities = programme_quality_task(made.reports, cfg.quality, plan.reference)
    detail(log, "quality: %s", quality_line(qualities))
    cached = list(made.cached.values())
    stage(
        log, 4, "cues ready: %d generated, %d from cache", cached.count(False), cached.count(True)
    )
    return made, qualities


def _mix(run: Run, cut: Cut, plan: Plan, made: Made) -> Mixed:
    """Stage 5: the video's dialogue found, the cues leveled by their intensity and placed
    with their transitions, and the programme mixed and brought to the preset."""
    cfg, log, sr = run.cfg, run.log, run.sample_rate
    stage(log, 5, "mixing to %s", cfg.pipeline.preset)
    total = frame_to_sample(cut.info.frames, cut.info.rate, sr)
    dialogue, regions = dialogue_task(run.video_p, cut.info, total, cut.scenes, cfg, run.spool_dir)
    regions_s = [(a / sr, b / sr) for a, b in regions]
    if dialogue is not None:
        detail(log, "dialogue: %d regions, %.1f s", len(regions), sum(b - a for a, b in regions_s))
    cues, placements = _placements(run, plan, made.cues)
    programme = mix_task(placements, total, dialogue, regions, cfg, run.spool_dir)
    loudness = programme.report
    detail(
        log,
        "%.1f LUFS -> %.1f LUFS (%s-gated), true peak %.1f dBTP",
        loudness["before_lufs"],
        loudness["after_lufs"],
        loudness["gate"],
        loudness["after_true_peak_dbtp"],
    )
    return Mixed(cues, programme, regions_s)


def _placements(
    run: Run, plan: Plan, cues: list[spool.SpooledCue]
) -> tuple[list[spool.SpooledCue], list[mix.Placement]]:
    """The cues with their level (from their brief's intensity), and where each goes."""
    sr, by_scene = run.sample_rate, {s.id: s for s in plan.scored}
    range_lu = run.cfg.mix.intensity_range_lu
    levels = {
        b.scene_id: mix.intensity_level_db(b.intensity, range_lu=range_lu) for b in plan.briefs
    }
    cues = [c.with_metrics(level_db=round(levels[c.scene_id], 2)) for c in cues]
    placements = [
        mix.Placement(
            c,
            *by_scene[c.scene_id].sample_span(sr),
            transition=by_scene[c.scene_id].transition or "crossfade",
            transition_s=by_scene[c.scene_id].transition_s,
            level_db=levels[c.scene_id],
        )
        for c in cues
    ]
    return cues, placements
