"""`scoreflow cuts`: a video's picture read into scenes, written as a shot list or cut
(CSV, OTIO, EDL) for the editor to check. Plain functions; the command prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import InputError


@dataclass(frozen=True)
class Cuts:
    """A video's picture read into scenes, and the files (with their kinds) to write."""

    video: Path
    reading: Any
    scenes: list[Any]
    files: list[tuple[Path, str]]

    def text(self, kind: str) -> str:
        """The scenes as a shot list or cut of `kind` (csv, otio, edl)."""
        from scoreflow.tasks.interchange import cutlist

        return str(cutlist.render(kind, self.scenes, self.reading))

    def summary(self) -> str:
        """What the picture reading found, in one line."""
        from scoreflow.flows.inspect import picture_summary

        return picture_summary(self.reading)


def read_cuts(
    video: str, *, out: list[str], force: bool, start_tc: str | None, config_file: str | None
) -> Cuts:
    """Read the picture's cuts, scenes and hit points; refuse an `out` file that is the
    video or, without `force`, a file that is there."""
    from scoreflow.flows import settings
    from scoreflow.tasks.cloud.storage import fetch, work_dir
    from scoreflow.tasks.interchange import cutlist
    from scoreflow.tasks.picture import reading as pic

    kinds = [(Path(o), cutlist.format_for(o)) for o in out]
    cfg = settings.load(config_file)
    video_p = fetch(video, work_dir(), what="video")
    for path, _ in kinds:
        if path.exists() and (path.resolve() == Path(video_p).resolve() or not force):
            raise InputError("the file is there already", field="--out", value=str(path),
                             fix="Give another name, or --force to replace it")  # fmt: skip
    reading = pic.read_with(video_p, cfg)
    info = reading.source.media_info()
    scenes = pic.scenes_for(reading, info, start_tc=start_tc, genre=cfg.picture.genre)
    return Cuts(Path(video_p), reading, scenes, kinds)


def write_cut(cuts: Cuts, path: Path, kind: str) -> None:
    """Write one of `cuts`' files atomically, never over the video."""
    from scoreflow.tasks.cloud.storage import atomic_path

    with atomic_path(path, inputs=[cuts.video]) as tmp:
        tmp.write_text(cuts.text(kind))
