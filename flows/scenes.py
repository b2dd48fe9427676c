"""Stages 1 and 2 of a run: the video probed, and its scenes read from the shot list (what
it leaves empty filled from the picture) or, with no shot list, from the picture itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scoreflow import config
from scoreflow.flows.run import Run, detail, stage
from scoreflow.flows.stages import probe_task, read_picture_task, read_shots_task
from scoreflow.tasks.audio import media, mux
from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.picture import reading as picture
from scoreflow.tasks.timeline.model import MediaInfo, Scene


@dataclass(frozen=True)
class Cut:
    """The video as probed, and its scenes."""

    info: MediaInfo
    video_sha256: str
    scenes: list[Scene]
    reading: picture.Reading | None  # None: the picture was not read
    suggested: dict[str, list[str]]  # what the picture suggested, by scene id

    @property
    def scored(self) -> list[Scene]:
        """The scenes with music."""
        return [s for s in self.scenes if s.music]


def read_cut(run: Run, *, fps: str | None, start_tc: str | None) -> Cut:
    """Probe the video and read its scenes; errors name the files the user gave, not the
    fetched copies."""
    stage(run.log, 1, "probing %s", run.video_p.name)
    try:
        info = probe_task(run.video_p)
        detail(run.log, "%s", media.describe(info))
        o = run.cfg.output
        mux.check_audio_options(info.container, o.audio_codec, o.audio_bitrate)
        video_sha256 = sha256_file(run.video_p)
        cut = _scenes(run, info, video_sha256, fps=fps, start_tc=start_tc)
    except InputError as exc:
        if run.shots_p is not None and run.shots:
            exc = exc.renamed(str(run.shots_p), run.shots)
        raise exc.renamed(str(run.video_p), run.video) from None
    detail(run.log, "%d scenes, %d with music", len(cut.scenes), len(cut.scored))
    return cut


def _scenes(
    run: Run, info: MediaInfo, video_sha256: str, *, fps: str | None, start_tc: str | None
) -> Cut:
    """The run's scenes: the shot list's (what it leaves empty filled from the picture
    with ``picture.suggest``), or with no shot list the picture's own."""
    log, cfg, video_p = run.log, run.cfg, run.video_p
    if run.shots_p is None or not run.shots:
        stage(log, 2, "reading the picture of %s (no shot list)", video_p.name)
        reading = read_picture_task(video_p, cfg, video_sha256)
        detail(log, "%s", picture.summary(reading))
        genre = cfg.picture.genre
        scenes = picture.scenes_for(reading, info, start_tc=start_tc, genre=genre)
        return Cut(info, video_sha256, scenes, reading, {})
    stage(log, 2, "reading shot list %s", run.shots_p.name)
    scenes = read_shots_task(run.shots_p, fps, start_tc, info)
    if str(run.shots_p) != run.shots:  # a fetched copy: scenes point at what the user gave
        given = (str(run.shots_p), run.shots)
        scenes = [replace(x, origin=x.origin.replace(*given)) for x in scenes]
    if not cfg.picture.suggest or not any(s.music for s in scenes):
        return Cut(info, video_sha256, scenes, None, {})
    reading = read_picture_task(video_p, cfg, video_sha256)
    vocab = config.styles(cfg.composer.styles)
    scenes, suggested = picture.suggest(
        scenes, reading, settings=cfg.picture, mapping=vocab["picture"], vocab=vocab
    )
    if suggested:
        detail(log, "from the picture: %s", "; ".join(f"scene {k}: {len(v)} suggestion(s)"
                                                       for k, v in suggested.items()))  # fmt: skip
    return Cut(info, video_sha256, scenes, reading, suggested)
