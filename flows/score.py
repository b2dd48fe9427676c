"""The `score_video` Prefect flow: shot list in, scored video out.

Tasks here are thin wrappers over the plain functions in `tasks/`; no audio logic lives in
this module. Cue generation is cached on what defines the music (brief, length, seed,
backend settings, style vocabulary, backend version) with persisted results, so a re-run
with one scene changed regenerates only that cue.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import socket
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.futures import PrefectFuture, as_completed, wait
from prefect.transactions import CommitMode, transaction

from scoreflow import config
from scoreflow.flows import cache, prefect_ui, progress, runners
from scoreflow.tasks.audio import align, blocks, media, mix, mux, speech, spool
from scoreflow.tasks.cloud.storage import (
    S3Uri,
    atomic_path,
    etag,
    fetch,
    is_remote,
    local_path,
    prepare_out_dir,
    sha256_file,
    upload,
    work_dir,
)
from scoreflow.tasks.delivery import deliver, report
from scoreflow.tasks.delivery.outdir import RunFolder, refuse_inputs_in_the_way
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.engines.batching import batch_queue
from scoreflow.tasks.errors import DeliveryError, InputError, StorageError, TransientStorageError
from scoreflow.tasks.interchange import fcp, shotlist
from scoreflow.tasks.music.brief import apply_note, brief_changes, link_briefs, make_brief
from scoreflow.tasks.picture import reading as picture
from scoreflow.tasks.quality import measures as quality
from scoreflow.tasks.timeline.model import Brief, Cue, MediaInfo, Scene, scene_seed
from scoreflow.tasks.timeline.timecode import frame_to_sample

STAGES = 8
PROGRAMME_THEME = "main"  # the theme of every scene without a theme column of its own


def music_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of the config that defines the music a backend makes."""
    backend = cfg["pipeline"]["backend"]
    section = "musicgen" if backend == "audiocraft" else backend  # audiocraft shares it
    return {
        "pipeline": {k: cfg["pipeline"][k] for k in ("backend", "model", "sample_rate")},
        "project": dict(cfg["project"]),
        "composer": dict(cfg["composer"]),  # its vocabulary also shapes every brief
        **({section: dict(cfg[section])} if section in cfg else {}),
    }


def cue_cache_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    """Cache key of a cue: everything that defines its music, scoped by project and code."""
    settings = params["settings"]
    payload = {
        "brief": params["brief"].to_dict(),
        "samples": params["samples"],
        "seed": params["seed"],
        "settings": settings,
        "backend_version": get_backend(settings).version,
        "styles": config.styles_digest(settings["composer"]["styles"]),
    }
    return cache.cue_key(payload, settings)


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a task only when storage failed transiently (throttled, 5xx, unreachable)."""
    try:
        state.result()
    except TransientStorageError:
        return True
    except Exception:
        return False
    return False


STORAGE_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [1, 4, 15],
    "retry_condition_fn": transient_only,
}


@task(name="fetch", cache_policy=NO_CACHE, **STORAGE_RETRIES)
def fetch_task(uri: str, work: Path, what: str) -> Path:
    return fetch(uri, work, what=what)


@task(name="publish", cache_policy=NO_CACHE, **STORAGE_RETRIES)
def publish_task(staging: Path, prefix: str, files: list[str]) -> str:
    """Upload a finished run under `prefix`, manifest.json last; returns the prefix."""
    target = S3Uri.parse(prefix)
    try:
        for name in [*(f for f in files if f != "manifest.json"), "manifest.json"]:
            upload(staging / name, target.join(name))
    except InputError as exc:  # a missing bucket here is the output's problem, not input's
        raise StorageError(f"cannot write the outputs to {prefix}: {exc}") from None
    return str(target)


@task(name="probe", cache_policy=NO_CACHE)
def probe_task(video: Path) -> MediaInfo:
    return media.probe(video)


@task(name="read-shots", cache_policy=NO_CACHE)
def read_shots_task(
    shots: Path, fps: str | None, start_tc: str | None, info: MediaInfo
) -> list[Scene]:
    return shotlist.read_shotlist(shots, fps=fps, media=info, start_tc=start_tc)


def picture_cache_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    """Cache key of a video's reading: its content, the picture settings and vocabulary,
    the dialogue margin and the reader's code (a revision does not read the picture again)."""
    cfg = params["cfg"]
    about = {
        "video": params["video_sha256"],
        "picture": cfg["picture"],
        "styles": config.styles_digest(cfg["composer"]["styles"]),
        "speech_margin_db": cfg["mix"]["speech_margin_db"],
    }
    blob = json.dumps(about, sort_keys=True, default=str).encode()
    return "scoreflow-picture-" + hashlib.sha256(blob).hexdigest() + "-" + cache.picture_digest()


@task(name="read-picture", cache_key_fn=picture_cache_key, persist_result=True,
      result_serializer="pickle")  # fmt: skip
def read_picture_task(video: Path, cfg: dict[str, Any], video_sha256: str) -> picture.Reading:
    return picture.read_with(video, cfg)


@task(name="brief", cache_policy=NO_CACHE)
def brief_task(
    scenes: list[Scene], styles: str, notes: dict[str, list[str]], seed: int
) -> list[Brief]:
    """Each scene's brief, stating its theme (its `theme` column, else the programme's,
    drawn from the base `seed`), with the notes of its revisions merged in (in order)."""
    vocab = config.styles(styles)
    briefs = []
    for s in scenes:
        brief = replace(
            make_brief(s, vocab=vocab), theme=s.theme or PROGRAMME_THEME, theme_seed=seed
        )
        for note in notes.get(s.id, []):
            brief = apply_note(brief, s, note, vocab=vocab)
        briefs.append(brief)
    return link_briefs(scenes, briefs)


@task(
    name="generate-cue",
    task_run_name="generate-cue-{brief.scene_id}",
    cache_key_fn=cue_cache_key,
    persist_result=True,
    result_serializer="pickle",
    cache_result_in_memory=False,  # on disk only: Prefect's store would keep every cue
)
def generate_cue_task(brief: Brief, samples: int, seed: int, settings: dict[str, Any]) -> Cue:
    backend = get_backend(settings)
    seconds = samples / backend.sample_rate
    if backend.batched:  # concurrent cue tasks share batched calls
        return batch_queue(backend).generate(brief, seconds=seconds, seed=seed)
    return backend.generate([brief], seconds=[seconds], seed=seed)[0]


@task(name="fit-cue", task_run_name="fit-cue-{cue.scene_id}", cache_policy=NO_CACHE)
def fit_task(cue: Cue, samples: int, settings: dict[str, Any]) -> Cue:
    return align.fit_cue(cue, samples, **settings)


def measure_cache_key(ctx: TaskRunContext, params: dict[str, Any]) -> str:
    """Cache key of a cue's measures: its audio and MIDI, its brief, the thresholds and
    the measuring code."""
    cue = params["cue"]
    digest = hashlib.sha256(np.ascontiguousarray(cue.audio).tobytes())
    digest.update(cue.midi or b"")
    about = {"brief": params["brief"].to_dict(), "settings": params["settings"], "bpm": cue.bpm}
    digest.update(json.dumps(about, sort_keys=True, default=str).encode())
    return "scoreflow-quality-" + digest.hexdigest() + "-" + cache.quality_digest()


@task(
    name="measure-cue",
    task_run_name="measure-cue-{cue.scene_id}",
    cache_key_fn=measure_cache_key,
    persist_result=True,
    result_serializer="pickle",
    cache_result_in_memory=False,
)
def measure_cue_task(cue: Cue, brief: Brief, settings: dict[str, Any]) -> dict[str, Any]:
    return quality.cue_report(
        cue.audio, cue.sample_rate, brief=brief, midi=cue.midi, bpm=cue.bpm, settings=settings,
        melody=str(cue.metrics.get("melody", "")),
    )  # fmt: skip


@task(name="programme-quality", cache_policy=NO_CACHE)
def programme_quality_task(
    reports: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    reference: dict[str, dict[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    return quality.programme_quality(reports, settings, reference=reference)


@task(name="dialogue", cache_policy=NO_CACHE)
def dialogue_task(
    video: Path,
    info: MediaInfo,
    total: int,
    scenes: list[Scene],
    cfg: dict[str, Any],
    spool_dir: Path,
) -> tuple[spool.DiskSignal | None, list[tuple[int, int]]]:
    """The video's own audio, decoded to disk as `total` samples at the pipeline rate, and
    its dialogue regions (found block by block): detected, then overridden where a scene's
    `dialogue` column says yes or no."""
    if not info.audio_streams:
        return None, []
    sr = cfg["pipeline"]["sample_rate"]
    audio = spool.decode_to_disk(video, spool_dir / "dialogue.f32", sample_rate=sr, samples=total)
    found = speech.speech_regions_streamed(
        audio.read, total, sr, margin_db=cfg["mix"]["speech_margin_db"]
    )
    regions = speech.override_regions(
        found,
        total_samples=total,
        forced=[s.sample_span(sr) for s in scenes if s.dialogue is True],
        excluded=[s.sample_span(sr) for s in scenes if s.dialogue is False],
    )
    return audio, regions


@task(name="mix", cache_policy=NO_CACHE)
def mix_task(
    placements: list[mix.Placement],
    total: int,
    dialogue: spool.DiskSignal | None,
    regions: list[tuple[int, int]],
    cfg: dict[str, Any],
    spool_dir: Path,
) -> blocks.StreamedProgramme:
    """The programme mixed in blocks (`tasks.blocks`): the spooled cues leveled and
    placed to disk, then ducked, mixed and brought to the preset."""
    chosen, m = config.preset(cfg), cfg["mix"]
    sr = cfg["pipeline"]["sample_rate"]
    gains = [
        mix.level_gain(cast(spool.SpooledCue, p.cue).lufs,
                       target_lufs=chosen["target_lufs"] + p.level_db)
        for p in placements
    ]  # fmt: skip
    laid = mix.lay_out(
        placements, sample_rate=sr, crossfade_s=m["crossfade_s"],
        declick_s=cfg["align"]["declick_s"], gains=gains,
    )  # fmt: skip
    music = blocks.place_to_disk(
        laid, spool_dir / "music.f32", total_samples=total, sample_rate=sr,
        fade_in_s=m["fade_in_s"], fade_out_s=m["fade_out_s"],
    )  # fmt: skip
    return blocks.mix_programme_blocked(
        music,
        dialogue,
        sample_rate=sr,
        regions=regions,
        target_lufs=chosen["target_lufs"],
        true_peak_dbtp=chosen["true_peak_dbtp"],
        work=spool_dir / "gain",
        dialogue_gated=chosen["gate"] == "dialogue",
        duck_db=m["duck_db"],
        attack_s=m["duck_attack_s"],
        release_s=m["duck_release_s"],
        music_vs_dialogue_lu=m["music_vs_dialogue_lu"],
        with_dialogue=m["with_original"],
    )


@task(name="mux", cache_policy=NO_CACHE)
def mux_task(
    video: Path, soundtrack: Path, out: Path, info: MediaInfo, cfg: dict[str, Any]
) -> list[str]:
    o = cfg["output"]
    with atomic_path(out, inputs=[video]) as tmp:
        command = mux.mux(
            video,
            soundtrack,
            tmp,
            media=info,
            audio_codec=o["audio_codec"],
            audio_bitrate=o["audio_bitrate"],
            keep_original_audio=o["keep_original_audio"],
        )
    return [out.name if a == tmp.name else a for a in command]


@task(name="qc-written", cache_policy=NO_CACHE)
def qc_written_task(
    main: Path,
    regions_s: list[tuple[float, float]],
    gated: bool,
    soundtrack: Path,
    music_spans_s: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    return deliver.measure_written(
        main, regions_s=regions_s if gated else None, soundtrack=soundtrack,
        music_spans_s=music_spans_s,
    )  # fmt: skip


@task(name="qc-scored", cache_policy=NO_CACHE)
def qc_scored_task(scored: Path, video: Path, picture_s: float) -> dict[str, Any]:
    return deliver.measure_scored(scored, video=video, picture_s=picture_s)


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
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score `video` from the shot list `shots` into the folder `out`; with no `shots`,
    from the scenes, energy and hit points read from the picture (`tasks.picture`).

    With `takes`, each scene gets that many candidates (other seeds), ranked by their
    quality score (`tasks.quality`); the best is used unless `revision` picks another.
    `revision` (what `scoreflow pick` and `revise` pass) holds per-scene ``notes`` merged
    into the briefs, ``picks`` (scene id -> take), and the ``history`` the manifest keeps;
    `settings` are an earlier run's whole settings (its manifest's), used instead of the
    defaults and `config_file`.

    A run whose deliverables fail QC (loudness off target, true peak over the ceiling,
    clipping, a silent music scene, audio and picture of different lengths) is written and
    its manifest says so, and then it fails, unless `allow_qc_fail`.

    Any of the three may be an ``s3://`` URI. Remote inputs are fetched (once per ETag);
    a remote `out` receives the run under ``out/<run id>/``, its manifest uploaded last.
    Returns the manifest (also written as ``manifest.json``).
    """
    flags: dict[str, dict[str, Any]] = {
        "pipeline": {"backend": backend, "model": model, "preset": preset, "seed": seed},
        "output": {"keep_original_audio": keep_original_audio},
        "ace-step": {"guide": guide},
    }
    flags["pipeline"]["takes"] = takes
    if settings is None:
        cfg = config.load_config(config_file, flags)
    else:  # an earlier run's settings, whole, with the flags over them
        cfg = config.load_config(None, config.layered(settings, flags))
    prefect_ui.tag_run(cfg)
    work = work_dir()
    video_p = fetch_task(video, work, "video")
    shots_p = fetch_task(shots, work, "shot list") if shots else None
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + _run_suffix()
    with contextlib.ExitStack() as stack:
        return _score(
            stack, video, shots, out, cfg=cfg, video_p=video_p, shots_p=shots_p,
            run_id=run_id, fps=fps, start_tc=start_tc, allow_qc_fail=allow_qc_fail,
            revision=revision or {},
            inputs={"config": config_file or "", "styles": cfg["composer"]["styles"],
                    "SoundFont": cfg["composer"]["soundfont"]},
        )  # fmt: skip


def _output_folder(
    stack: contextlib.ExitStack, out: str, run_id: str, inputs: dict[str, Path]
) -> tuple[Path, Path, RunFolder | None]:
    """(where the run writes, where it ends up, the claimed local folder or None): a
    remote run stages in the work folder and is uploaded; a local one is staged inside its
    folder (`outdir.RunFolder`) after refusing inputs an output would replace."""
    if is_remote(out):
        return prepare_out_dir(work_dir() / "runs" / run_id), Path(), None
    final = local_path(out, what="output folder")
    refuse_inputs_in_the_way(final, inputs)
    folder = RunFolder(final, run_id)
    return stack.enter_context(folder), final.resolve(), folder


def _score(
    stack: contextlib.ExitStack,
    video: str,
    shots: str | None,
    out: str,
    *,
    cfg: dict[str, Any],
    video_p: Path,
    shots_p: Path | None,
    run_id: str,
    fps: str | None,
    start_tc: str | None,
    inputs: dict[str, str],
    allow_qc_fail: bool,
    revision: dict[str, Any],
) -> dict[str, Any]:
    """The body of `score_video`, inside its claimed output folder."""
    log = get_run_logger()
    sr = cfg["pipeline"]["sample_rate"]
    local = {k: Path(v) for k, v in inputs.items() if v and not is_remote(v)}
    local |= {"video": video_p, **({"shot list": shots_p} if shots_p else {})}
    out_p, final, folder = _output_folder(stack, out, run_id, local)
    location = str(S3Uri.parse(out).join(run_id)) + "/" if folder is None else str(final)

    _stage(log, 1, "probing %s", video_p.name)
    try:
        info = probe_task(video_p)
        _detail(log, "%s", media.describe(info))
        o = cfg["output"]
        mux.check_audio_options(info.container, o["audio_codec"], o["audio_bitrate"])
        video_sha256 = sha256_file(video_p)
        scenes, reading, suggested = _scenes(
            log, video_p, video_sha256, shots_p, shots, info, cfg, fps, start_tc
        )
    except InputError as exc:  # name what the user gave, not our fetched copy
        if shots_p is not None and shots:
            exc = exc.renamed(str(shots_p), shots)
        raise exc.renamed(str(video_p), video) from None
    scored = [s for s in scenes if s.music]
    _detail(log, "%d scenes, %d with music", len(scenes), len(scored))
    notes, picks = revision.get("notes", {}), revision.get("picks", {})
    _check_revision(scored, notes, picks, takes=cfg["pipeline"]["takes"])
    reference = quality.load_reference(cfg["quality"]["reference"]) or None
    briefs = brief_task(scored, cfg["composer"]["styles"], notes, cfg["pipeline"]["seed"])
    history = _record_changes(revision.get("history", []), scored, briefs, notes, cfg)

    _stage(
        log, 3, "generating %d cues with %s, each fitted to its scene", len(scored),
        cfg["pipeline"]["backend"],
    )  # fmt: skip
    spans = {s.id: s.sample_span(sr) for s in scored}
    spool.sweep(work_dir() / "spool")  # what killed runs left a day ago or more
    spool_dir = work_dir() / "spool" / run_id  # cues and programme-long audio, on disk
    stack.callback(shutil.rmtree, spool_dir, ignore_errors=True)
    made = _make_cues(scored, briefs, spans, cfg, picks, spool_dir)
    cues, cached = made.cues, made.cached
    qualities = programme_quality_task(made.reports, cfg["quality"], reference)
    _detail(log, "quality: %s", _quality_line(qualities))
    _stage(
        log, 4, "cues ready: %d generated, %d from cache",
        list(cached.values()).count(False), list(cached.values()).count(True),
    )  # fmt: skip

    _stage(log, 5, "mixing to %s", cfg["pipeline"]["preset"])
    total = frame_to_sample(info.frames, info.rate, sr)
    dialogue, regions = dialogue_task(video_p, info, total, scenes, cfg, spool_dir)
    regions_s = [(a / sr, b / sr) for a, b in regions]
    if dialogue is not None:
        _detail(log, "dialogue: %d regions, %.1f s", len(regions), sum(b - a for a, b in regions_s))
    by_scene = {s.id: s for s in scored}
    levels = {
        b.scene_id: mix.intensity_level_db(b.intensity, range_lu=cfg["mix"]["intensity_range_lu"])
        for b in briefs
    }
    cues = [c.with_metrics(level_db=round(levels[c.scene_id], 2)) for c in cues]
    placements = [
        mix.Placement(
            c,
            *spans[c.scene_id],
            transition=by_scene[c.scene_id].transition or "crossfade",
            transition_s=by_scene[c.scene_id].transition_s,
            level_db=levels[c.scene_id],
        )
        for c in cues
    ]
    programme = mix_task(placements, total, dialogue, regions, cfg, spool_dir)
    loudness = programme.report
    _detail(
        log,
        "%.1f LUFS -> %.1f LUFS (%s-gated), true peak %.1f dBTP",
        loudness["before_lufs"],
        loudness["after_lufs"],
        loudness["gate"],
        loudness["after_true_peak_dbtp"],
    )

    _stage(log, 6, "writing soundtrack, mix, stems and cues")
    subtype = cfg["output"]["wav_subtype"]
    audio_files = deliver.write_programme(out_p, programme, sr, subtype=subtype)
    scored_p = out_p / f"{video_p.stem}.scored{video_p.suffix}"
    main = audio_files.get("mix", audio_files["soundtrack"])
    music_spans_s = {s.id: (a / sr, b / sr) for s in scored for a, b in [s.sample_span(sr)]}
    # the mux and the QC of the programme's WAVs need nothing else: their ffmpeg processes
    # run on the other cores while the cues and the edit files are written
    muxing = mux_task.submit(video_p, main, scored_p, info, cfg)
    written = qc_written_task.submit(main, regions_s, loudness["gate"] == "dialogue",
                                     audio_files["soundtrack"], music_spans_s)  # fmt: skip
    pending: list[PrefectFuture[Any]] = [muxing, written]
    stack.callback(wait, pending)  # a failure below leaves nothing running
    cue_files = deliver.write_cues(out_p, cues, subtype=subtype)
    take_files = deliver.write_takes(
        out_p, {k: [t.cue for t in ts] for k, ts in made.takes.items()}, subtype=subtype
    )
    wavs = {sid: out_p / f["wav"] for sid, f in cue_files.items()}
    crossfade_s = cfg["mix"]["crossfade_s"]
    clips = {c.scene_id: c for c in fcp.cue_clips(scenes, wavs, crossfade_s=crossfade_s)}
    by_id = {c.scene_id: c for c in cues}
    brief_by_id = {b.scene_id: b for b in briefs}
    deliver.write_cuesheet(
        out_p / "cuesheet.csv",
        deliver.cuesheet_rows(
            scenes,
            {k: c.cue for k, c in by_id.items()},
            brief_by_id,
            production=video_p.stem,
            people=cfg["cuesheet"],
        ),
    )
    edit_files: list[Path] = []
    if cfg["output"]["interchange"] and cue_files:
        edit_files = deliver.write_interchange(
            out_p,
            scenes,
            {sid: out_p / f["wav"] for sid, f in cue_files.items()},
            video=video_p,
            media=info,
            crossfade_s=crossfade_s,
            relative=is_remote(out),
            sample_rate=sr,
            link_root=None if folder is None else final,
        )

    _stage(log, 7, "muxing %s (video stream copied)", scored_p.name)
    command = muxing.result()

    _stage(log, 8, "measuring the deliverables")
    chosen = config.preset(cfg)
    qc = {**written.result(), **qc_scored_task(scored_p, video_p, info.duration_s)}
    _detail(
        log,
        "%s: %.1f LUFS, true peak %.1f dBTP (ffmpeg ebur128)",
        main.name,
        qc["main"]["integrated_lufs"],
        qc["main"]["true_peak_dbtp"],
    )
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "location": location,
        "inputs": {
            "video": {
                "path": str(video),
                "etag": etag(video),
                "sha256": video_sha256,
                "probe": {**info.__dict__, "rate": str(info.rate), "path": str(video)},
            },
            "shots": None
            if shots_p is None or not shots
            else {"path": str(shots), "etag": etag(shots), "sha256": sha256_file(shots_p)},
        },
        "picture": None  # the video as the user gave it, not the fetched copy
        if reading is None
        else {**reading.to_dict(), "video": str(video), "suggested": suggested},
        "settings": cfg,
        "programme": {
            "rate": str(info.rate),
            "frames": info.frames,
            "start_frame": scenes[0].tc_start if scenes else 0,
            "start_tc": scenes[0].timecode(0) if scenes else "00:00:00:00",
            "drop_frame": scenes[0].drop_frame if scenes else False,
        },
        "loudness": {
            "preset": chosen["name"],
            "target_lufs": chosen["target_lufs"],
            "true_peak_ceiling_dbtp": chosen["true_peak_dbtp"],
            **loudness,
        },
        "dialogue": {"regions_s": [[round(a, 3), round(b, 3)] for a, b in regions_s]},
        "qc": qc,
        "workers": made.workers,  # takes made by each process (host/pid)
        "quality": {
            **quality.summary(qualities),
            "boundaries": quality.boundaries(qualities, _touching(scored)),
        },
        "revision": {
            "number": revision.get("number", 0),
            "notes": notes,
            "picks": picks,
            "history": history,
        },
        "mux": {"command": command, "audio": main.name},
        "scenes": [
            _scene_entry(
                s,
                sr,
                cue=by_id.get(s.id),
                clip=clips.get(s.id),
                brief=brief_by_id.get(s.id),
                cached=cached,
                cue_files=cue_files,
            )
            for s in scenes
        ],
    }
    _add_quality(manifest, qualities, made, take_files)
    failures = report.qc_failures(manifest)
    qc.update(passed=not failures, failures=failures)
    if failures:
        log.warning("QC failed:\n  %s", "\n  ".join(failures))
    report.write_report(out_p / "report.html", manifest, scored=scored_p.name)
    outputs = [scored_p, *audio_files.values(), out_p / "cuesheet.csv", out_p / "report.html"]
    outputs += [out_p / f for entry in cue_files.values() for f in entry.values()]
    outputs += [out_p / f for ts in take_files.values() for t in ts for f in t.values()]
    outputs += deliver.carry_revisions(
        out_p, final if folder is not None else None, revising=bool(revision)
    )
    outputs += edit_files
    result = deliver.write_manifest(out_p, manifest, outputs=outputs)
    if folder is not None:
        folder.commit([*result["outputs"], "manifest.json"])
    if is_remote(out):
        log.info("uploading %d files to %s", len(result["outputs"]) + 1, location)
        publish_task(out_p, location, list(result["outputs"]))
        shutil.rmtree(out_p, ignore_errors=True)  # the staged copy; inputs stay cached
    prefect_ui.publish_artifacts(result, location)
    if failures and not allow_qc_fail:
        raise DeliveryError(
            f"QC failed ({location}, the report shows the table):\n  "
            + "\n  ".join(failures)
            + "\n(--allow-qc-fail accepts the run as it is)"
        )
    log.info("done: %s", location)
    return result


def _scenes(
    log: Any, video_p: Path, video_sha256: str, shots_p: Path | None, shots: str | None,
    info: MediaInfo, cfg: dict[str, Any], fps: str | None, start_tc: str | None,
) -> tuple[list[Scene], picture.Reading | None, dict[str, list[str]]]:  # fmt: skip
    """The run's scenes: the shot list's (what it leaves empty filled from the picture
    with ``picture.suggest``), or with no shot list the picture's own."""
    if shots_p is None or not shots:
        _stage(log, 2, "reading the picture of %s (no shot list)", video_p.name)
        reading = read_picture_task(video_p, cfg, video_sha256)
        _detail(log, "%s", picture.summary(reading))
        scenes = picture.scenes_for(reading, info, start_tc=start_tc, genre=cfg["picture"]["genre"])
        return scenes, reading, {}
    _stage(log, 2, "reading shot list %s", shots_p.name)
    scenes = read_shots_task(shots_p, fps, start_tc, info)
    if str(shots_p) != shots:  # a fetched copy: scenes point at what the user gave
        scenes = [replace(x, origin=x.origin.replace(str(shots_p), shots)) for x in scenes]
    if not cfg["picture"]["suggest"] or not any(s.music for s in scenes):
        return scenes, None, {}
    reading = read_picture_task(video_p, cfg, video_sha256)
    vocab = config.styles(cfg["composer"]["styles"])
    scenes, suggested = picture.suggest(
        scenes, reading, settings=cfg["picture"], mapping=vocab["picture"], vocab=vocab
    )
    if suggested:
        _detail(log, "from the picture: %s", "; ".join(f"scene {k}: {len(v)} suggestion(s)"
                                                        for k, v in suggested.items()))  # fmt: skip
    return scenes, reading, suggested


@dataclass
class Take:
    """One candidate cue of a scene."""

    number: int  # 1-based
    seed: int
    cue: spool.SpooledCue
    report: dict[str, Any]  # `quality.cue_report`
    cached: bool
    worker: str = ""  # host/pid of the process that made it


@dataclass
class Made:
    """The cues chosen for the scenes (fitted, spooled to disk), and every take behind
    them."""

    cues: list[spool.SpooledCue]
    cached: dict[str, bool]
    reports: dict[str, dict[str, Any]]
    takes: dict[str, list[Take]] = field(default_factory=dict)
    chosen: dict[str, int] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)  # takes made by each process


def take_seed(seed: int, take: int) -> int:
    """Take 1 keeps the scene's seed (a run without takes makes the same cue); the
    others derive theirs from it."""
    if take == 1:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:take{take}".encode()).digest()[:4], "big")


@task(
    name="take",
    task_run_name="take-{brief.scene_id}-{number}",
    cache_policy=NO_CACHE,
    tags=[runners.CUE_TAG],
)
def take_task(
    brief: Brief,
    number: int,
    samples: int,
    seed: int,
    cfg: dict[str, Any],
    spool_dir: Path,
) -> Take:
    """One take of a cue: generated (cached on its music), fitted to its scene, measured
    (cached), then spooled to disk, so only its metadata travels on and a programme's
    cues never have to fit in memory together."""
    options = cache.task_options(cfg)
    # the nested tasks' cache records are written as each ends, not when the take does: a
    # take lost with its worker after generating finds its cue in the cache on the rerun
    with transaction(commit_mode=CommitMode.EAGER):
        made = generate_cue_task.with_options(**options)(
            brief, samples=samples, seed=seed, settings=music_settings(cfg), return_state=True
        )
        fitted = fit_task(made.result(), samples=samples, settings=cfg["align"])
        report = measure_cue_task.with_options(**options)(fitted, brief, cfg["quality"])
    lufs = mix.integrated_lufs(fitted.audio, fitted.sample_rate)
    held = spool.spool(fitted, spool_dir / "cues", lufs=lufs)
    worker = f"{socket.gethostname()}/{os.getpid()}"
    return Take(number, seed, held, report, made.name == "Cached", worker)


def _make_cues(
    scored: list[Scene],
    briefs: list[Brief],
    spans: dict[str, tuple[int, int]],
    cfg: dict[str, Any],
    picks: dict[str, int],
    spool_dir: Path,
) -> Made:
    """Make every take of every cue (`take_task`: from the cache where it can), counting
    them on the terminal as they finish; then choose each scene's take: the one picked,
    else the best by quality score (the first of equals)."""
    music = get_backend(music_settings(cfg))
    log = get_run_logger()
    if not music.commercial_use:
        log.warning("%s: not for commercial use", music.licence)
    for notice in getattr(music, "notices", []):
        log.warning("%s", notice)
    n = cfg["pipeline"]["takes"]
    if music.batched:
        batch_queue(music).expect(len(scored) * n)
    jobs = [(s, b, k) for s, b in zip(scored, briefs, strict=True) for k in range(1, n + 1)]
    seeds = {s.id: scene_seed(cfg["pipeline"]["seed"], s) for s in scored}
    runners.limit_cues(cfg["pipeline"]["cue_concurrency"])
    with contextlib.ExitStack() as stack:
        runner = runners.cue_runner(cfg["pipeline"], batched=music.batched)
        if runner is not None:
            stack.enter_context(runner)
        futures = [
            runners.submit(runner, take_task, brief=b, number=k, seed=take_seed(seeds[s.id], k),
                           samples=spans[s.id][1] - spans[s.id][0], cfg=cfg, spool_dir=spool_dir)
            for s, b, k in jobs
        ]  # fmt: skip
        _count(futures, [f"scene {s.id}" + (f" take {k}" if n > 1 else "") for s, _, k in jobs])
        takes: dict[str, list[Take]] = {s.id: [] for s in scored}
        for (s, _, _), f in zip(jobs, futures, strict=True):
            takes[s.id].append(_reachable(f.result(), s.id))
    chosen = {sid: picks.get(sid) or _best(ts) for sid, ts in takes.items()}
    best = {sid: takes[sid][k - 1] for sid, k in chosen.items()}
    return Made(
        cues=[best[s.id].cue for s in scored],
        cached={sid: t.cached for sid, t in best.items()},
        reports={sid: t.report for sid, t in best.items()},
        takes=takes if n > 1 else {},
        chosen=chosen,
        workers=dict(Counter(t.worker for ts in takes.values() for t in ts)),
    )


def _reachable(take: Take, scene_id: str) -> Take:
    """The take, once its spooled audio is known to be readable here: a worker on another
    machine spools to its own disk unless `$SCOREFLOW_WORK` is storage they share."""
    path = take.cue.signal.path
    if not path.is_file():
        raise InputError(
            f"take {take.number} was made by worker {take.worker}, and its audio is not "
            "readable on this machine",
            scene=scene_id,
            field="SCOREFLOW_WORK",
            value=str(path),
            fix="Point $SCOREFLOW_WORK, on the run's machine and on every worker, at "
            "storage they all mount (see README, Scale-out)",
        )
    return take


def _best(takes: list[Take]) -> int:
    """The take with the highest overall quality score (the first of equals)."""
    return max(takes, key=lambda t: (t.report["quality"]["overall"], -t.number)).number


def _count(futures: list[Any], names: list[str]) -> None:
    """Show the futures on the terminal as they finish."""
    progress.count("cues", len(futures))
    name_of = {f.task_run_id: name for f, name in zip(futures, names, strict=True)}
    for done in as_completed(futures):
        done.wait()
        progress.advance(name_of[done.task_run_id])


def _check_revision(
    scored: list[Scene], notes: dict[str, list[str]], picks: dict[str, int], *, takes: int
) -> None:
    """Notes and picks must name music scenes, picks a take the run has."""
    ids = {s.id for s in scored}
    for sid in [*notes, *picks]:
        if sid not in ids:
            raise InputError(
                "no music scene with this id",
                field="--scene",
                value=sid,
                fix=f"Use one of {', '.join(sorted(ids))}",
            )
    for sid, k in picks.items():
        if not 1 <= k <= takes:
            raise InputError(
                f"scene {sid} has takes 1 to {takes}",
                field="--take",
                value=k,
                fix=f"Pick a take from 1 to {takes} (or score with --takes N)",
            )


def _record_changes(
    history: list[dict[str, Any]],
    scored: list[Scene],
    briefs: list[Brief],
    notes: dict[str, list[str]],
    cfg: dict[str, Any],
) -> list[dict[str, Any]]:
    """The history with what its newest note changed in its scene's brief."""
    if not history or not history[-1].get("note"):
        return history
    last = dict(history[-1])
    sid = last["scene"]
    earlier = {**notes, sid: notes.get(sid, [])[:-1]}
    before = next(
        b
        for b in brief_task.fn(scored, cfg["composer"]["styles"], earlier, cfg["pipeline"]["seed"])
        if b.scene_id == sid
    )
    after = next(b for b in briefs if b.scene_id == sid)
    last["changed"] = brief_changes(before, after)
    return [*history[:-1], last]


def _touching(scored: list[Scene]) -> list[tuple[str, str]]:
    """The music scenes that run into the next (no gap, no fade between them)."""
    return [
        (a.id, b.id)
        for a, b in itertools.pairwise(scored)
        if a.end_frame == b.start_frame and b.transition != "fade"
    ]


def _quality_line(qualities: dict[str, dict[str, Any]]) -> str:
    summary = quality.summary(qualities)
    if summary["mean_overall"] is None:
        return "no cues"
    low = summary["lowest"]
    return (
        f"mean score {summary['mean_overall']:.2f}, lowest {low['overall']:.2f} (scene "
        f"{low['scene']}), {len(summary['failures'])} failed measure(s)"
    )


def _add_quality(
    manifest: dict[str, Any],
    qualities: dict[str, dict[str, Any]],
    made: Made,
    files: dict[str, list[dict[str, str]]],
) -> None:
    """Each scene's cue gets its quality, and with takes each take's score and files."""
    for entry in manifest["scenes"]:
        cue = entry.get("cue")
        if cue is None:
            continue
        cue["quality"] = qualities[entry["id"]]
        if entry["id"] in made.takes:
            cue["takes"] = [
                {
                    "take": t.number,
                    "seed": t.seed,
                    "cached": t.cached,
                    "overall": t.report["quality"]["overall"],
                    "scores": t.report["quality"]["scores"],
                    "failures": t.report["quality"]["failures"],
                    "chosen": t.number == made.chosen[entry["id"]],
                    "files": files[entry["id"]][t.number - 1],
                }
                for t in made.takes[entry["id"]]
            ]


def _scene_entry(
    s: Scene,
    sr: int,
    *,
    cue: spool.SpooledCue | None,
    clip: fcp.CueClip | None,
    brief: Brief | None,
    cached: dict[str, bool],
    cue_files: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """A scene as the manifest records it, with its brief and cue where it has music (and
    the crossfade into the cue, as the NLE files have it)."""
    entry: dict[str, Any] = {
        "id": s.id,
        "origin": s.origin,
        "description": s.description,
        "tc_in": s.tc_in,
        "tc_out": s.tc_out,
        "start_frame": s.start_frame,
        "end_frame": s.end_frame,
        "rate": str(s.rate),
        "music": s.music,
        "transition": s.transition,
        "transition_s": s.transition_s,
        "samples": list(s.sample_span(sr)),
    }
    if cue is not None and clip is not None and brief is not None:
        entry["brief"] = brief.to_dict()
        entry["cue"] = {
            **cue.metadata(),
            "cached": cached[s.id],
            "files": cue_files[s.id],
            "crossfade_in_s": round(float(clip.crossfade_frames / s.rate), 4),
        }
    return entry


def _stage(log: Any, index: int, text: str, *args: Any) -> None:
    """Log stage `index` of `STAGES` and show it on the terminal."""
    log.info("[%d/%d] " + text, index, STAGES, *args)
    progress.stage(index, STAGES, text % args)


def _detail(log: Any, text: str, *args: Any) -> None:
    log.info("        " + text, *args)
    progress.detail(text % args)


def _run_suffix() -> str:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    return str(run.id)[:8] if run else os.urandom(4).hex()
