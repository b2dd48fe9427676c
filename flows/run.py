"""One run of the score flow: where it reads and writes (`Run`), the folder it claims
(`open_run`), what its stages hand on (`Plan`, `Mixed`), and its stages as the log and
the terminal show them (`stage`, `detail`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoreflow.config.settings import Settings
from scoreflow.flows import progress
from scoreflow.tasks.audio.blocks import StreamedProgramme
from scoreflow.tasks.audio.spool import SpooledCue
from scoreflow.tasks.cloud.storage import S3Uri, is_remote, local_path, prepare_out_dir, work_dir
from scoreflow.tasks.delivery.manifest import RevisionEntry
from scoreflow.tasks.delivery.outdir import RunFolder, refuse_inputs_in_the_way
from scoreflow.tasks.timeline.model import Brief, Scene

STAGES = 8


@dataclass(frozen=True)
class Run:
    """A run in progress: its settings, its inputs as given and as fetched, and where it
    writes (`out_p`: staged; `final`: the local folder it ends up in)."""

    cfg: Settings
    log: Any  # the flow run's logger
    stack: contextlib.ExitStack  # what the run holds until it ends (folder, spool, futures)
    video: str
    shots: str | None
    out: str
    video_p: Path
    shots_p: Path | None
    run_id: str
    out_p: Path
    final: Path
    folder: RunFolder | None  # the claimed local folder; None: a remote run, uploaded
    location: str  # where the user finds the run

    @property
    def sample_rate(self) -> int:
        return int(self.cfg.pipeline.sample_rate)

    @property
    def spool_dir(self) -> Path:
        """Cues and programme-long audio, on disk while the run lasts."""
        return work_dir() / "spool" / self.run_id


@dataclass(frozen=True)
class Plan:
    """The music scenes' briefs, with the run's revision state merged in."""

    scored: list[Scene]  # the scenes with music
    briefs: list[Brief]  # one a scored scene, in order
    revision: RevisionEntry
    reference: dict[str, dict[str, Any]] | None  # a library's features (originality)
    revising: bool  # the run revises an earlier one


@dataclass(frozen=True)
class Mixed:
    """The programme mixed: the cues as placed (with their level), and the dialogue."""

    cues: list[SpooledCue]
    programme: StreamedProgramme
    regions_s: list[tuple[float, float]]  # dialogue, in seconds


def new_run_id() -> str:
    """``<UTC time>-<8 hex>``: the time and the flow run's id (else random hex)."""
    from prefect.context import FlowRunContext

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    return stamp + "-" + (str(run.id)[:8] if run else os.urandom(4).hex())


def open_run(
    stack: contextlib.ExitStack,
    *,
    cfg: Settings,
    log: Any,
    given: tuple[str, str | None, str],
    fetched: tuple[Path, Path | None],
    run_id: str,
    inputs: dict[str, str],
) -> Run:
    """The run of the video, shot list and output folder as `given` (fetched to
    `fetched`), in its claimed output folder; `inputs` are the other files it reads."""
    video, shots, out = given
    video_p, shots_p = fetched
    local = {k: Path(v) for k, v in inputs.items() if v and not is_remote(v)}
    local |= {"video": video_p, **({"shot list": shots_p} if shots_p else {})}
    out_p, final, folder = _output_folder(stack, out, run_id, local)
    location = str(S3Uri.parse(out).join(run_id)) + "/" if folder is None else str(final)
    return Run(
        cfg, log, stack, video, shots, out, video_p, shots_p, run_id, out_p, final, folder,
        location,
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


def stage(log: Any, index: int, text: str, *args: Any) -> None:
    """Log stage `index` of `STAGES` and show it on the terminal."""
    log.info("[%d/%d] " + text, index, STAGES, *args)
    progress.stage(index, STAGES, text % args)


def detail(log: Any, text: str, *args: Any) -> None:
    """Log a detail of the stage in progress and show it on the terminal."""
    log.info("        " + text, *args)
    progress.detail(text % args)
