"""Stages 6 to 8 of a run and its delivery: the programme, cues, takes, cue sheet and NLE
files written (the mux and the QC of the WAVs running meanwhile), the deliverables
measured, the manifest recorded (`tasks.delivery.manifest`), and the run delivered: its
report and manifest written, its folder committed or its files uploaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.futures import PrefectFuture, wait

from scoreflow import config
from scoreflow.flows import prefect_ui
from scoreflow.flows.run import Mixed, Plan, Run, detail, stage
from scoreflow.flows.scenes import Cut
from scoreflow.flows.stages import mux_task, publish_task, qc_scored_task, qc_written_task
from scoreflow.flows.takes import Made
from scoreflow.tasks.audio.spool import SpooledCue
from scoreflow.tasks.cloud.storage import etag, is_remote, sha256_file
from scoreflow.tasks.delivery import deliver, report
from scoreflow.tasks.delivery import manifest as record
from scoreflow.tasks.errors import DeliveryError
from scoreflow.tasks.interchange import fcp
from scoreflow.tasks.timeline.model import Brief, Scene


@dataclass(frozen=True)
class Written:
    """What stage 6 wrote (file names relative to the run folder), and the mux and the QC
    of the WAVs, still running."""

    audio_files: dict[str, Path]  # soundtrack, mix, stems
    scored_p: Path  # the scored video, once muxed
    main: Path  # the delivered track: the mix, else the soundtrack
    muxing: PrefectFuture[list[str]]
    measuring: PrefectFuture[dict[str, Any]]
    cue_files: dict[str, dict[str, str]]
    take_files: dict[str, list[dict[str, str]]]
    clips: dict[str, fcp.CueClip]
    edit_files: list[Path]  # the NLE files


def write_outputs(run: Run, cut: Cut, plan: Plan, made: Made, mixed: Mixed) -> Written:
    """Write the programme's WAVs, start the mux and their QC, then write the cues, the
    takes, the cue sheet and the NLE files."""
    stage(run.log, 6, "writing soundtrack, mix, stems and cues")
    out_p, sr, video_p = run.out_p, run.sample_rate, run.video_p
    subtype = run.cfg.output.wav_subtype
    audio_files = deliver.write_programme(out_p, mixed.programme, sr, subtype=subtype)
    scored_p = out_p / f"{video_p.stem}.scored{video_p.suffix}"
    main = audio_files.get("mix", audio_files["soundtrack"])
    music_spans_s = {s.id: (a / sr, b / sr) for s in plan.scored for a, b in [s.sample_span(sr)]}
    # the mux and the QC of the programme's WAVs need nothing else: their ffmpeg processes
    # run on the other cores while the cues and the edit files are written
    muxing = mux_task.submit(video_p, main, scored_p, cut.info, run.cfg)
    measuring = qc_written_task.submit(main, mixed.regions_s,
                                       mixed.programme.report["gate"] == "dialogue",
                                       audio_files["soundtrack"], music_spans_s)  # fmt: skip
    pending: list[PrefectFuture[Any]] = [muxing, measuring]
    run.stack.callback(wait, pending)  # a failure below leaves nothing running
    cue_files = deliver.write_cues(out_p, mixed.cues, subtype=subtype)
    take_files = deliver.write_takes(
        out_p, {k: [t.cue for t in ts] for k, ts in made.takes.items()}, subtype=subtype
    )
    clips, edit_files = _write_edit(run, cut, plan, mixed, cue_files)
    return Written(audio_files, scored_p, main, muxing, measuring, cue_files, take_files,
                   clips, edit_files)  # fmt: skip


def _write_edit(
    run: Run, cut: Cut, plan: Plan, mixed: Mixed, cue_files: dict[str, dict[str, str]]
) -> tuple[dict[str, fcp.CueClip], list[Path]]:
    """The cue sheet and (with ``output.interchange``) the NLE files; the cues as clips
    on the music track, and the NLE files written."""
    out_p, cfg = run.out_p, run.cfg
    wavs = {sid: out_p / f["wav"] for sid, f in cue_files.items()}
    crossfade_s = cfg.mix.crossfade_s
    clips = {c.scene_id: c for c in fcp.cue_clips(cut.scenes, wavs, crossfade_s=crossfade_s)}
    deliver.write_cuesheet(
        out_p / "cuesheet.csv",
        deliver.cuesheet_rows(
            cut.scenes,
            {c.scene_id: c.cue for c in mixed.cues},
            {b.scene_id: b for b in plan.briefs},
            production=run.video_p.stem,
            people=cfg.cuesheet,
        ),
    )
    if not (cfg.output.interchange and cue_files):
        return clips, []
    edit_files = deliver.write_interchange(
        out_p, cut.scenes, wavs, video=run.video_p, media=cut.info, crossfade_s=crossfade_s,
        relative=is_remote(run.out), sample_rate=run.sample_rate,
        link_root=None if run.folder is None else run.final,
    )  # fmt: skip
    return clips, edit_files


def measure(run: Run, cut: Cut, written: Written) -> tuple[list[str], dict[str, Any]]:
    """Stages 7 and 8: the mux's command once it is done, and the QC of the deliverables
    (the WAVs' and the scored video's)."""
    stage(run.log, 7, "muxing %s (video stream copied)", written.scored_p.name)
    command = written.muxing.result()
    stage(run.log, 8, "measuring the deliverables")
    wavs = written.measuring.result()
    qc = {**wavs, **qc_scored_task(written.scored_p, run.video_p, cut.info.duration_s)}
    detail(
        run.log,
        "%s: %.1f LUFS, true peak %.1f dBTP (ffmpeg ebur128)",
        written.main.name,
        qc["main"]["integrated_lufs"],
        qc["main"]["true_peak_dbtp"],
    )
    return command, qc


def manifest_record(
    run: Run,
    cut: Cut,
    plan: Plan,
    made: Made,
    mixed: Mixed,
    written: Written,
    *,
    command: list[str],
    qc: dict[str, Any],
    qualities: dict[str, dict[str, Any]],
) -> record.ManifestRecord:
    """What the run's manifest records, from what its stages made."""
    shots = None
    if run.shots_p is not None and run.shots:
        shots = record.Source(run.shots, etag(run.shots), sha256_file(run.shots_p))
    picture = None
    if cut.reading is not None:
        picture = record.PictureEntry(cut.reading, str(run.video), cut.suggested)
    return record.ManifestRecord(
        run_id=run.run_id,
        location=run.location,
        inputs=record.ManifestInputs(
            record.Source(str(run.video), etag(run.video), cut.video_sha256), cut.info, shots
        ),
        picture=picture,
        settings=run.cfg.model_dump(mode="json"),
        scenes=_scene_entries(
            cut.scenes,
            run.sample_rate,
            cues={c.scene_id: c for c in mixed.cues},
            briefs={b.scene_id: b for b in plan.briefs},
            made=made,
            written=written,
            qualities=qualities,
        ),
        loudness=record.Loudness(config.preset(run.cfg), mixed.programme.report),
        dialogue_s=mixed.regions_s,
        qc=qc,
        workers=made.workers,
        qualities=qualities,
        revision=plan.revision,
        mux_command=command,
        mux_audio=written.main.name,
    )


def _scene_entries(
    scenes: list[Scene],
    sample_rate: int,
    *,
    cues: dict[str, SpooledCue],
    briefs: dict[str, Brief],
    made: Made,
    written: Written,
    qualities: dict[str, dict[str, Any]],
) -> list[record.SceneEntry]:
    """Every scene, with its brief, cue (as placed) and takes where it has music."""
    entries = []
    for s in scenes:
        cue, clip, brief = cues.get(s.id), written.clips.get(s.id), briefs.get(s.id)
        if cue is None or clip is None or brief is None:
            entries.append(record.SceneEntry(s, sample_rate))
            continue
        takes = None
        if s.id in made.takes:
            files = written.take_files[s.id]
            takes = [
                record.TakeEntry(t.number, t.seed, t.cached, t.report,
                                 t.number == made.chosen[s.id], files[t.number - 1])
                for t in made.takes[s.id]
            ]  # fmt: skip
        entry = record.CueEntry(cue, brief, clip, made.cached[s.id], written.cue_files[s.id],
                                qualities[s.id], takes)  # fmt: skip
        entries.append(record.SceneEntry(s, sample_rate, entry))
    return entries


def deliver_run(
    run: Run, manifest: dict[str, Any], written: Written, *, revising: bool, allow_qc_fail: bool
) -> dict[str, Any]:
    """Add QC's verdict, write the report and the manifest (last, with every output's
    hash), commit the run folder or upload the run, and attach the artifacts; then fail
    on QC unless `allow_qc_fail`. The manifest as written."""
    failures = record.add_qc_verdict(manifest)
    if failures:
        run.log.warning("QC failed:\n  %s", "\n  ".join(failures))
    out_p = run.out_p
    report.write_report(out_p / "report.html", manifest, scored=written.scored_p.name)
    result = deliver.write_manifest(out_p, manifest, outputs=_outputs(run, written, revising))
    if run.folder is not None:
        run.folder.commit([*result["outputs"], "manifest.json"])
    if is_remote(run.out):
        run.log.info("uploading %d files to %s", len(result["outputs"]) + 1, run.location)
        publish_task(out_p, run.location, list(result["outputs"]))
        shutil.rmtree(out_p, ignore_errors=True)  # the staged copy; inputs stay cached
    prefect_ui.publish_artifacts(result, run.location)
    if failures and not allow_qc_fail:
        raise DeliveryError(
            f"QC failed ({run.location}, the report shows the table):\n  "
            + "\n  ".join(failures)
            + "\n(--allow-qc-fail accepts the run as it is)"
        )
    run.log.info("done: %s", run.location)
    return result


def _outputs(run: Run, written: Written, revising: bool) -> list[Path]:
    """Every file the run delivers, in the manifest's order (earlier revisions carried)."""
    out_p = run.out_p
    outputs = [written.scored_p, *written.audio_files.values(), out_p / "cuesheet.csv",
               out_p / "report.html"]  # fmt: skip
    outputs += [out_p / f for entry in written.cue_files.values() for f in entry.values()]
    outputs += [out_p / f for ts in written.take_files.values() for t in ts for f in t.values()]
    outputs += deliver.carry_revisions(
        out_p, run.final if run.folder is not None else None, revising=revising
    )
    return outputs + written.edit_files
