"""What a person sees of a run in Prefect's UI: its name, its tags and its artifacts."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from scoreflow.config.settings import Settings
from scoreflow.tasks.delivery.deliver import scored_video
from scoreflow.tasks.delivery.report import qc_rows


def run_name() -> str:
    """``score-<video stem>-<UTC date and time>``, e.g. ``score-spot12-20261125-1402``."""
    from prefect.runtime import flow_run

    video = str(flow_run.parameters.get("video", "video"))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(video.rstrip("/")).stem).strip("-") or "video"
    return f"score-{stem}-{time.strftime('%Y%m%d-%H%M', time.gmtime())}"


def run_tags(cfg: Settings) -> list[str]:
    """Tags from the settings: backend, preset, and the project's client and name."""
    project = cfg.project
    tags = ["scoreflow", f"backend:{cfg.pipeline.backend}"]
    tags.append(f"preset:{cfg.pipeline.preset}")
    tags += [f"client:{project.client}"] if project.client else []
    return tags + ([f"project:{project.name}"] if project.name else [])


def tag_run(cfg: Settings) -> None:
    """Add `run_tags` to the flow run in progress (whoever started it: CLI, deployment)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    tags = sorted(set(ctx.flow_run.tags) | set(run_tags(cfg)))
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, tags=tags)


def link(location: str, name: str) -> str:
    """A URL for `name` inside a run's `location` (an s3:// prefix or a local folder)."""
    if location.startswith("s3://"):
        return location.rstrip("/") + "/" + name
    return (Path(location) / name).resolve().as_uri()


def summary_markdown(manifest: dict[str, Any], location: str) -> str:
    """The run at a glance: where it is, what was made, and the QC verdicts."""
    scored = scored_video(manifest)
    cues = [s for s in manifest["scenes"] if "cue" in s]
    cached = sum(1 for s in cues if s["cue"].get("cached"))
    lines = [
        f"# {Path(manifest['inputs']['video']['path']).name}",
        "",
        f"- scored video: [{scored}]({link(location, scored)})",
        f"- report: [report.html]({link(location, 'report.html')})",
        f"- {len(cues)} cues ({cached} from cache), backend "
        f"{manifest['settings']['pipeline']['backend']}, preset {manifest['loudness']['preset']}",
        "",
        "| check | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c or '-'} |" for a, b, c in qc_rows(manifest)]
    return "\n".join(lines)


def cue_table(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scene with music, for a table artifact."""
    rows = []
    for s in manifest["scenes"]:
        if "cue" not in s:
            continue
        cue, brief = s["cue"], s.get("brief", {})
        rows.append(
            {
                "scene": s["id"],
                "in": s["tc_in"],
                "out": s["tc_out"],
                "genre": brief.get("genre", ""),
                "mood": brief.get("mood", ""),
                "bpm": cue.get("bpm", ""),
                "key": cue.get("key", ""),
                "cached": bool(cue.get("cached")),
                "wav": cue.get("files", {}).get("wav", ""),
            }
        )
    return rows


def publish_artifacts(manifest: dict[str, Any], location: str) -> None:
    """A markdown summary with the QC verdicts, a table of the cues and links to the report
    and the scored video, attached to the flow run in progress."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    scored = scored_video(manifest)
    create_markdown_artifact(
        summary_markdown(manifest, location), key="scoreflow-summary", description="QC"
    )
    create_table_artifact(cue_table(manifest), key="scoreflow-cues", description="cues")
    create_link_artifact(link(location, "report.html"), "report.html", key="scoreflow-report")
    create_link_artifact(link(location, scored), scored, key="scoreflow-video")
