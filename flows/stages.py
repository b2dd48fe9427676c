"""The score flow's stages as Prefect tasks: thin wrappers over the plain functions in
`tasks/`, with their retries (storage) and cache policies (`flows.cache`: a cue, its
measures and a video's reading are persisted and found again by what defines them).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from prefect import task
from prefect.cache_policies import NO_CACHE

from scoreflow import config
from scoreflow.config.settings import AlignSettings, QualitySettings, Settings
from scoreflow.flows import cache
from scoreflow.tasks.audio import align, blocks, media, mix, mux, speech, spool
from scoreflow.tasks.cloud.storage import S3Uri, atomic_path, fetch, upload
from scoreflow.tasks.delivery import deliver
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.engines.batching import batch_queue
from scoreflow.tasks.errors import InputError, StorageError, TransientStorageError
from scoreflow.tasks.interchange import shotlist
from scoreflow.tasks.music.brief import apply_note, link_briefs, make_brief
from scoreflow.tasks.picture import reading as picture
from scoreflow.tasks.quality import measures as quality
from scoreflow.tasks.timeline.model import Brief, Cue, MediaInfo, Scene

PROGRAMME_THEME = "main"  # the theme of every scene without a theme column of its own


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


@task(name="read-picture", cache_policy=cache.PICTURE_POLICY, persist_result=True,
      result_serializer="pickle")  # fmt: skip
def read_picture_task(video: Path, cfg: Settings, video_sha256: str) -> picture.Reading:
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


# persisted, and on disk only: Prefect's store in memory would keep every cue
ON_DISK: dict[str, Any] = {
    "persist_result": True,
    "result_serializer": "pickle",
    "cache_result_in_memory": False,
}


@task(name="generate-cue", task_run_name="generate-cue-{brief.scene_id}",
      cache_policy=cache.CUE_POLICY, **ON_DISK)  # fmt: skip
def generate_cue_task(brief: Brief, samples: int, seed: int, settings: Settings) -> Cue:
    backend = get_backend(settings)
    seconds = samples / backend.sample_rate
    if backend.batched:  # concurrent cue tasks share batched calls
        return batch_queue(backend).generate(brief, seconds=seconds, seed=seed)
    return backend.generate([brief], seconds=[seconds], seed=seed)[0]


@task(name="fit-cue", task_run_name="fit-cue-{cue.scene_id}", cache_policy=NO_CACHE)
def fit_task(cue: Cue, samples: int, settings: AlignSettings) -> Cue:
    return align.fit_cue(
        cue, samples, max_stretch=settings.max_stretch, fade_out_s=settings.fade_out_s,
        declick_s=settings.declick_s,
    )  # fmt: skip


@task(name="measure-cue", task_run_name="measure-cue-{cue.scene_id}",
      cache_policy=cache.MEASURE_POLICY, **ON_DISK)  # fmt: skip
def measure_cue_task(cue: Cue, brief: Brief, settings: QualitySettings) -> dict[str, Any]:
    return quality.cue_report(
        cue.audio, cue.sample_rate, brief=brief, midi=cue.midi, bpm=cue.bpm, settings=settings,
        melody=str(cue.metrics.get("melody", "")),
    )  # fmt: skip


@task(name="programme-quality", cache_policy=NO_CACHE)
def programme_quality_task(
    reports: dict[str, dict[str, Any]],
    settings: QualitySettings,
    reference: dict[str, dict[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    return quality.programme_quality(reports, settings, reference=reference)


@task(name="dialogue", cache_policy=NO_CACHE)
def dialogue_task(
    video: Path,
    info: MediaInfo,
    total: int,
    scenes: list[Scene],
    cfg: Settings,
    spool_dir: Path,
) -> tuple[spool.DiskSignal | None, list[tuple[int, int]]]:
    """The video's own audio, decoded to disk as `total` samples at the pipeline rate, and
    its dialogue regions (found block by block): detected, then overridden where a scene's
    `dialogue` column says yes or no."""
    if not info.audio_streams:
        return None, []
    sr = cfg.pipeline.sample_rate
    audio = spool.decode_to_disk(video, spool_dir / "dialogue.f32", sample_rate=sr, samples=total)
    found = speech.speech_regions_streamed(
        audio.read, total, sr, margin_db=cfg.mix.speech_margin_db
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
    cfg: Settings,
    spool_dir: Path,
) -> blocks.StreamedProgramme:
    """The programme mixed in blocks (`tasks.audio.blocks`): the spooled cues leveled and
    placed to disk, then ducked, mixed and brought to the preset."""
    chosen, m = config.preset(cfg), cfg.mix
    sr = cfg.pipeline.sample_rate
    gains = [
        mix.level_gain(cast(spool.SpooledCue, p.cue).lufs,
                       target_lufs=chosen["target_lufs"] + p.level_db)
        for p in placements
    ]  # fmt: skip
    laid = mix.lay_out(
        placements, sample_rate=sr, crossfade_s=m.crossfade_s,
        declick_s=cfg.align.declick_s, gains=gains,
    )  # fmt: skip
    music = blocks.place_to_disk(
        laid, spool_dir / "music.f32", total_samples=total, sample_rate=sr,
        fade_in_s=m.fade_in_s, fade_out_s=m.fade_out_s,
    )  # fmt: skip
    mixing = mix.Mixing(
        sample_rate=sr,
        regions=regions,
        target_lufs=chosen["target_lufs"],
        true_peak_dbtp=chosen["true_peak_dbtp"],
        dialogue_gated=chosen["gate"] == "dialogue",
        duck_db=m.duck_db,
        attack_s=m.duck_attack_s,
        release_s=m.duck_release_s,
        music_vs_dialogue_lu=m.music_vs_dialogue_lu,
        with_dialogue=m.with_original,
    )
    return blocks.mix_programme_blocked(music, dialogue, mixing=mixing, work=spool_dir / "gain")


@task(name="mux", cache_policy=NO_CACHE)
def mux_task(video: Path, soundtrack: Path, out: Path, info: MediaInfo, cfg: Settings) -> list[str]:
    o = cfg.output
    with atomic_path(out, inputs=[video]) as tmp:
        command = mux.mux(
            video,
            soundtrack,
            tmp,
            media=info,
            audio_codec=o.audio_codec,
            audio_bitrate=o.audio_bitrate,
            keep_original_audio=o.keep_original_audio,
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
