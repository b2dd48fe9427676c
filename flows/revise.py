"""Revisions of a scored run: a director's note on one cue, another take picked, or the
last change undone.

Each is a new run of `score.score_video` on the run's own inputs and settings (its
manifest's), with the run's revision state (notes per scene, picked takes) changed: only
the cue whose brief or take changed is generated, the others come from the cache, then the
programme is mixed, muxed and delivered again. The manifest keeps the history (who, when,
what, what changed in the brief); a local run folder also keeps each earlier manifest
under ``revisions/<n>/``. An ``s3://`` run is revised into a new run folder beside it
(earlier runs are never overwritten).

`check_revision` is the one check of a revision (the CLI's before it starts, the flow's
in the run); `record_changes` tells the history what a note changed in its brief.
"""

from __future__ import annotations

import copy
import getpass
import json
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from scoreflow import config
from scoreflow.config.settings import Settings
from scoreflow.tasks.cloud.storage import S3Uri, fetch, is_remote, sha256_file, work_dir
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.music.brief import brief_changes
from scoreflow.tasks.timeline.model import Brief, Scene


def _manifest_of(out: str) -> str:
    """Where the manifest of the run in `out` is."""
    return f"{out.rstrip('/')}/manifest.json"


def load_run(out: str) -> dict[str, Any]:
    """The manifest of the run in `out` (a run folder, or an ``s3://`` run prefix)."""
    where = _manifest_of(out)
    if is_remote(out):
        path = fetch(where, work_dir(), what="manifest")
    else:
        path = Path(where)
        if not path.is_file():
            raise InputError(
                "not a scored run folder (no manifest.json)",
                field="OUT",
                value=out,
                fix="Give the folder `scoreflow score --out` wrote",
            )
    return dict(json.loads(path.read_text()))


def revised(
    manifest: dict[str, Any],
    *,
    scene: str | None = None,
    note: str | None = None,
    take: int | None = None,
    undo: bool = False,
    who: str | None = None,
) -> dict[str, Any]:
    """The revision state after one change to the run of `manifest`: its notes and picks,
    the next revision number and the history with this change recorded (the state after
    each change is in its history entry, so undo needs no other record)."""
    old = copy.deepcopy(manifest.get("revision") or {})
    history = list(old.get("history", []))
    state = {"notes": old.get("notes", {}), "picks": old.get("picks", {})}
    entry: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "who": who or getpass.getuser(),
        "from": old.get("number", 0),
    }
    if undo:
        undone = [h for h in history if not h.get("undone") and "undo" not in h]
        if not undone:
            raise InputError(
                "nothing to undo: the run has no revisions", field="--undo", value=True
            )
        last = undone[-1]
        last["undone"] = True
        state = last["before"]
        entry |= {"undo": last["number"]}
    elif note is not None:
        notes = {**state["notes"], scene: [*state["notes"].get(scene, []), note]}
        entry |= {"scene": scene, "note": note}
        state = {**state, "notes": notes}
    else:
        entry |= {"scene": scene, "take": take}
        state = {**state, "picks": {**state["picks"], scene: take}}
    number = max([old.get("number", 0), *(h["number"] for h in history)]) + 1
    entry |= {
        "number": number,
        "before": {"notes": old.get("notes", {}), "picks": old.get("picks", {})},
    }
    return {**state, "number": number, "history": [*history, entry]}


def rerun(
    out: str, manifest: dict[str, Any], revision: dict[str, Any], *, allow_qc_fail: bool = False
) -> dict[str, Any]:
    """Score the run of `manifest` again with `revision`, into `out` (a local folder) or
    beside it (an ``s3://`` run prefix); the new manifest."""
    from scoreflow.flows.score import score_video

    inputs = manifest["inputs"]
    for what in ("video", "shots"):
        if inputs.get(what) is None:  # scenes read from the picture: no shot list
            continue
        path = inputs[what]["path"]
        if not is_remote(path) and (
            not Path(path).is_file() or sha256_file(Path(path)) != inputs[what]["sha256"]
        ):
            raise InputError(
                f"the run's {what} is gone or changed since it was scored",
                field=what,
                value=path,
                fix="Put the original back, or score the new one with `scoreflow score`",
            )
    target = out
    if is_remote(out):  # a new run folder beside the revised one
        target = str(S3Uri.parse(out.rstrip("/").rsplit("/", 1)[0]))
    programme = manifest["programme"]
    return dict(
        score_video(
            video=inputs["video"]["path"],
            shots=(inputs.get("shots") or {}).get("path"),
            out=target,
            # over today's defaults: a key added since that run takes its default
            settings=config.layered(config.load_settings(), manifest["settings"]),
            fps=programme["rate"],
            start_tc=programme["start_tc"],
            revision=revision,
            allow_qc_fail=allow_qc_fail,
        )
    )


def check_revision(
    music: Collection[str],
    *,
    scenes: Iterable[str] = (),
    picks: Mapping[str, int] | None = None,
    takes: int | Mapping[str, int],
) -> None:
    """Check a revision before it runs: every scene it names (`scenes`, and those `picks`
    picks a take of) is one of the run's `music` scenes, and every pick a take it has.

    Parameters
    ----------
    music : collection of str
        The ids of the run's music scenes.
    scenes : iterable of str
        The scenes the revision names (a note's, a pick's).
    picks : mapping of str to int, optional
        Scene id -> the take picked (1-based).
    takes : int or mapping of str to int
        How many takes each scene has: one number for all, or by scene id.

    Raises
    ------
    InputError
        On the first scene that is not a music scene (``--scene``), or the first pick
        out of its scene's takes (``--take``).
    """
    picks = picks or {}
    for sid in [*scenes, *picks]:
        if sid not in music:
            raise InputError(
                "no music scene with this id in the run",
                field="--scene",
                value=sid,
                fix=f"Use one of {', '.join(sorted(music))}",
            )
    for sid, k in picks.items():
        count = takes if isinstance(takes, int) else takes[sid]
        if not 1 <= k <= count:
            raise InputError(
                f"scene {sid} has takes 1 to {count}",
                field="--take",
                value=k,
                fix=f"Pick a take from 1 to {count} (score with --takes N for more)",
            )


def record_changes(
    history: list[dict[str, Any]],
    scored: list[Scene],
    briefs: list[Brief],
    notes: dict[str, list[str]],
    cfg: Settings,
) -> list[dict[str, Any]]:
    """The history with what its newest note changed in its scene's brief (the brief
    made again without that note, against `briefs`)."""
    from scoreflow.flows.stages import brief_task

    if not history or not history[-1].get("note"):
        return history
    last = dict(history[-1])
    sid = last["scene"]
    earlier = {**notes, sid: notes.get(sid, [])[:-1]}
    before = next(
        b
        for b in brief_task.fn(scored, cfg.composer.styles, earlier, cfg.pipeline.seed)
        if b.scene_id == sid
    )
    after = next(b for b in briefs if b.scene_id == sid)
    last["changed"] = brief_changes(before, after)
    return [*history[:-1], last]
