"""report.html: one self-contained page a person can use after a run.

The scored video and audio players for the delivered track, the music alone and every cue
(links relative to the run folder, so the page works wherever the folder goes); a timeline
that fills the window width (scenes, numbered cues with their crossfades and hit points,
dialogue regions, the delivered track's short-term loudness against the target, with units
and a legend); the QC verdicts; the scene table. Nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
from fractions import Fraction
from pathlib import Path
from typing import Any

from scoreflow.tasks.cloud.storage import write_bytes
from scoreflow.tasks.timeline.timecode import format_timecode

WIDTH = 960  # the SVG's own units; it is drawn at the page's width
LEFT = 90
CSS = """body{font:14px system-ui,sans-serif;margin:1.5em;max-width:100%}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:middle}.fail{color:#b00;font-weight:bold}.pass{color:#070}
svg.timeline{width:100%;height:auto;display:block}video{max-width:100%;max-height:60vh}
audio{height:2em;max-width:100%}.players{display:flex;flex-wrap:wrap;gap:1em}
.players figure{margin:0}figcaption{font-size:12px;color:#555}"""


def _ticks(total_s: float) -> list[float]:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if total_s / s <= 12), 900)
    return [i * step for i in range(int(total_s // step) + 1)]


class _Axis:
    """Seconds to x in the SVG's units."""

    def __init__(self, total_s: float) -> None:
        self.total = total_s or 1.0
        self.plot = WIDTH - LEFT - 40  # room for the last tick label

    def __call__(self, t: float) -> float:
        return LEFT + self.plot * min(max(t, 0.0), self.total) / self.total


def cue_numbers(manifest: dict[str, Any]) -> dict[str, str]:
    """Scene id -> cue number as on the cue sheet ("01", "02" ...)."""
    with_cue = [s["id"] for s in manifest["scenes"] if "cue" in s]
    return {sid: f"{n:02d}" for n, sid in enumerate(with_cue, start=1)}


def _crossfades(manifest: dict[str, Any], sr: int) -> list[tuple[float, float]]:
    """(start, end) seconds of each crossfade into a cue, centred on its cut, as the run
    recorded it (the NLE files' crossfades)."""
    out = []
    for s in manifest["scenes"]:
        length = s.get("cue", {}).get("crossfade_in_s", 0)
        if length:
            cut = s["samples"][0] / sr
            out.append((cut - length / 2, cut + length / 2))
    return out


def _lanes(manifest: dict[str, Any], x: _Axis, sr: int) -> list[str]:
    """Scenes, cues (numbered, crossfades, hit points) and dialogue."""
    e, parts = html.escape, []
    numbers = cue_numbers(manifest)
    for lane_y, label in ((18, "scenes"), (50, "cues"), (82, "dialogue")):
        parts.append(f'<text x="4" y="{lane_y + 14}" class="l">{label}</text>')
    for s in manifest["scenes"]:
        a, b = (v / sr for v in s["samples"])
        w = max(x(b) - x(a), 1)
        parts.append(
            f'<rect x="{x(a):.1f}" y="18" width="{w:.1f}" height="22" '
            f'fill="{"#cde3f7" if s["music"] else "#eee"}" stroke="#678"><title>{e(s["id"])} '
            f"{e(s['tc_in'])}-{e(s['tc_out'])}: {e(s['description'])}</title></rect>"
            f'<text x="{x(a) + 3:.1f}" y="33" class="s">{e(s["id"])}</text>'
        )
        if "cue" not in s:
            continue
        cue, brief = s["cue"], s["brief"]
        parts.append(
            f'<rect x="{x(a):.1f}" y="50" width="{w:.1f}" height="22" fill="#f6d8a8" '
            f'stroke="#a86"><title>cue {numbers[s["id"]]}: {e(brief["genre"])} '
            f"{e(brief['mood'])}, {cue.get('bpm') or ''} bpm {e(str(cue.get('key')))}</title>"
            f'</rect><text x="{x(a) + 3:.1f}" y="65" class="s">{numbers[s["id"]]} '
            f"{e(brief['genre'])}</text>"
        )
        for hit in brief.get("hits_s", []):
            h = x(a + hit)
            parts.append(
                f'<path d="M{h:.1f} 72 l-4 -7 h8 z" class="hit"><title>hit point '
                f"{a + hit:.2f} s</title></path>"
            )
        if s.get("transition") in ("cut", "fade"):
            parts.append(f'<text x="{x(a) - 3:.1f}" y="48" class="s">{e(s["transition"])}</text>')
    for a, b in _crossfades(manifest, sr):
        parts.append(
            f'<path d="M{x(a):.1f} 72 L{x(b):.1f} 50 M{x(a):.1f} 50 L{x(b):.1f} 72" '
            f'class="xf"><title>crossfade {b - a:.2f} s</title></path>'
        )
    for a, b in manifest.get("dialogue", {}).get("regions_s", []):
        parts.append(
            f'<rect x="{x(a):.1f}" y="82" width="{max(x(b) - x(a), 1):.1f}" height="22" '
            'fill="#b9e0b0" stroke="#6a6"/>'
        )
    return parts


def _loudness(manifest: dict[str, Any], x: _Axis, top: float, height: float) -> list[str]:
    """The short-term loudness curve against the target, with a LUFS axis and a legend."""
    lo, hi = -60.0, 0.0

    def y(lufs: float) -> float:
        return top + height * (hi - min(max(lufs, lo), hi)) / (hi - lo)

    target = manifest["loudness"]["target_lufs"]
    parts = [
        f'<text x="4" y="{top + 14}" class="l">loudness</text>'
        f'<text x="4" y="{top + 30}" class="s">LUFS</text>'
    ]
    for level in (-60, -40, -20, 0):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + x.plot}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            f'class="g"/><text x="{LEFT - 4}" y="{y(level) + 4:.1f}" class="r">{level}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + x.plot}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
        'class="target"/>'
    )
    # short-term loudness integrates 3 s: earlier points are not readings yet
    curve = [(t, v) for t, v in manifest.get("qc", {}).get("short_term", []) if t >= 3.0]
    if curve:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in curve)
        parts.append(f'<polyline points="{points}" class="curve"/>')
    lx, ly = LEFT + x.plot - 330, top + 12
    parts.append(
        f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" class="curve"/>'
        f'<text x="{lx + 28}" y="{ly + 4}" class="s">short-term loudness (3 s, ffmpeg)</text>'
        f'<line x1="{lx + 210}" x2="{lx + 234}" y1="{ly}" y2="{ly}" class="target"/>'
        f'<text x="{lx + 238}" y="{ly + 4}" class="s">target {target:g} LUFS</text>'
    )
    return parts


def _time_axis(manifest: dict[str, Any], x: _Axis, bottom: float) -> list[str]:
    """Ticks on whole programme-timecode seconds."""
    prog, parts = manifest.get("programme", {}), []
    rate = Fraction(prog.get("rate", "1"))
    for t in _ticks(x.total):
        label = f"{t:g} s"
        if prog:
            frame = round(t) * round(rate)
            t = float(frame / rate)
            label = format_timecode(
                frame + prog["start_frame"], rate, drop_frame=prog["drop_frame"]
            )
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="14" y2="{bottom}" class="g"/>'
            f'<text x="{x(t):.1f}" y="{bottom + 14}" class="c">{label}</text>'
        )
    return parts


def timeline_svg(manifest: dict[str, Any]) -> str:
    """The run on one time axis, drawn at the page's width."""
    total = float(manifest["inputs"]["video"]["probe"]["duration_s"])
    sr = manifest["settings"]["pipeline"]["sample_rate"]
    x = _Axis(total)
    top, height = 114, 120
    parts = _lanes(manifest, x, sr) + _loudness(manifest, x, top, height)
    parts += _time_axis(manifest, x, top + height)
    h = top + height + 22
    return (
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {h}" '
        'role="img" aria-label="timeline"><style>.l{font:12px sans-serif;fill:#333}'
        ".s{font:10px sans-serif;fill:#223}.r{font:10px sans-serif;text-anchor:end}"
        ".c{font:10px sans-serif;text-anchor:middle}.g{stroke:#ddd}"
        ".target{stroke:#c33;stroke-dasharray:4 3}.curve{fill:none;stroke:#236;stroke-width:1.2}"
        ".hit{fill:#c33}.xf{stroke:#a63;stroke-width:1.5;fill:none}</style>"
        + "".join(parts)
        + "</svg>"
    )


def qc_rows(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, measured, verdict) for the report's QC table; the rows whose verdict is
    ``FAIL`` fail the run (`qc_failures`)."""
    loud, qc = manifest["loudness"], manifest.get("qc", {})
    target, ceiling = loud["target_lufs"], loud["true_peak_ceiling_dbtp"]
    main, gated = qc.get("main", {}), qc.get("dialogue_gated")
    audio = manifest["mux"]["audio"]
    rows = []
    if main:
        lufs = gated["integrated_lufs"] if gated else main["integrated_lufs"]
        what = "dialogue-gated loudness" if gated else "integrated loudness"
        verdict = "pass" if abs(lufs - target) <= 0.5 else "FAIL"
        rows.append((f"{audio}: {what} (target {target} LUFS)", f"{lufs:.1f} LUFS", verdict))
        peak = main["true_peak_dbtp"]
        verdict = "pass" if peak <= ceiling else "FAIL"
        rows.append((f"{audio}: true peak (ceiling {ceiling} dBTP)", f"{peak:.1f} dBTP", verdict))
        if gated:
            rows.append(("programme loudness", f"{main['integrated_lufs']:.1f} LUFS", ""))
        if main.get("lra_lu") is not None:
            rows.append(("loudness range", f"{main['lra_lu']:.1f} LU", ""))
    if "scored_audio" in qc:
        sa = qc["scored_audio"]
        measured = f"{sa['integrated_lufs']:.1f} LUFS, {sa['true_peak_dbtp']:.1f} dBTP"
        rows.append(("scored video, first audio track (after encoding)", measured, ""))
    if "video_stream_copied" in qc:
        copied = qc["video_stream_copied"]
        verdict = "pass" if copied else "FAIL"
        rows.append(("video stream packets identical to the source", str(copied), verdict))
    if "clipped_samples" in qc:
        n = qc["clipped_samples"]
        rows.append((f"{audio}: samples at full scale", str(n), "pass" if n == 0 else "FAIL"))
    if "silent_music_scenes" in qc:
        quiet = qc["silent_music_scenes"]
        measured = ", ".join(quiet) if quiet else "none"
        rows.append(
            ("music scenes silent in the soundtrack", measured, "FAIL" if quiet else "pass")
        )
    if "durations_s" in qc:
        d = qc["durations_s"]
        frame = 1 / float(Fraction(manifest["programme"]["rate"]))
        ok = abs(d["scored_audio"] - d["picture"]) <= frame + 0.025  # a frame, plus codec padding
        measured = f"{d['scored_audio']:.3f} s against {d['picture']:.3f} s"
        rows.append(
            ("scored video: audio as long as the picture", measured, "pass" if ok else "FAIL")
        )
    rows.append(
        (
            "our meter, before -> after",
            f"{loud['before_lufs']:.1f} -> {loud['after_lufs']:.1f} LUFS ({loud['gate']}-gated), "
            f"true peak {loud['before_true_peak_dbtp']:.1f} -> "
            f"{loud['after_true_peak_dbtp']:.1f} dBTP",
            "",
        )
    )
    return rows


def qc_failures(manifest: dict[str, Any]) -> list[str]:
    """The QC checks a run failed, one line each (empty: it passed)."""
    return [
        f"{what}: {measured}" for what, measured, verdict in qc_rows(manifest) if verdict == "FAIL"
    ]


def _player(src: str, caption: str) -> str:
    e = html.escape
    return (
        f'<figure><audio controls preload="none" src="{e(src)}"></audio>'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _players(manifest: dict[str, Any], scored: str) -> str:
    """The scored video and the delivered audio, by links relative to the run folder."""
    e = html.escape
    audio = manifest["mux"]["audio"]
    players = [_player(audio, f"{audio}: the delivered track")]
    if audio != "soundtrack.wav":
        players.append(_player("soundtrack.wav", "soundtrack.wav: the music alone"))
    return (
        f'<video controls preload="metadata" src="{e(scored)}"></video>'
        f'<div class="players">{"".join(players)}</div>'
    )


def _scene_rows(manifest: dict[str, Any]) -> str:
    e, numbers = html.escape, cue_numbers(manifest)
    rows = []
    for s in manifest["scenes"]:
        brief, cue = s.get("brief", {}), s.get("cue", {})
        cells = (
            s["id"], numbers.get(s["id"], ""), s["tc_in"], s["tc_out"],
            s.get("transition") or "", brief.get("genre", ""), brief.get("mood", ""),
            cue.get("bpm", ""), cue.get("key", ""), cue.get("metrics", {}).get("align", ""),
            s.get("description", ""),
        )  # fmt: skip
        wav = cue.get("files", {}).get("wav")
        player = f'<audio controls preload="none" src="{e(wav)}"></audio>' if wav else "no music"
        rows.append(
            "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in cells) + f"<td>{player}</td></tr>"
        )
    return "".join(rows)


def _score_cells(q: dict[str, Any]) -> str:
    groups = ("adherence", "coherence", "sync", "originality", "technical")
    scores = q.get("scores", {})
    return "".join(f"<td>{scores[g]:.2f}</td>" if g in scores else "<td>-</td>" for g in groups)


def _quality_summary(manifest: dict[str, Any]) -> str:
    q = manifest.get("quality") or {}
    if q.get("mean_overall") is None:
        return "No cues measured."
    text = f"Mean score {q['mean_overall']:.2f}; lowest {q['lowest']['overall']:.2f}"
    text += f" (scene {q['lowest']['scene']})."
    history = (manifest.get("revision") or {}).get("history", [])
    if history:
        last = history[-1]
        text += f" Revision {last['number']} by {last['who']} at {last['when']}"
        text += f": {last.get('note') or last.get('take') or 'undo'}."
    return text


def _quality_rows(manifest: dict[str, Any]) -> str:
    """A row a cue: its overall score, each group's, what failed; and its takes, each
    with a player and its score (the chosen one marked)."""
    e, rows = html.escape, []
    for s in manifest["scenes"]:
        q = s.get("cue", {}).get("quality")
        if not q:
            continue
        failed = "; ".join(q["failures"]) or "none"
        motif = q.get("motif") or {}
        theme = (
            f"{motif.get('theme') or 'own'}: {motif['recurrence']:.2f} shared with {motif['with']}"
            if motif.get("recurrence") is not None
            else f"{motif.get('theme') or 'own'}: not measured"
        )
        rows.append(
            f"<tr><td>{e(s['id'])}</td><td><b>{q['overall']:.2f}</b></td>{_score_cells(q)}"
            f"<td>{e(theme)}</td><td>{e(failed)}</td></tr>"
        )
        for t in s["cue"].get("takes", []):
            mark = " (used)" if t["chosen"] else ""
            player = _player(t["files"]["wav"], f"take {t['take']}{mark}")
            rows.append(
                f"<tr class='take'><td>take {t['take']}{mark}</td><td>{t['overall']:.2f}</td>"
                f"{_score_cells(t)}<td></td><td>{player}</td></tr>"
            )
    return "".join(rows)


def write_report(path: Path, manifest: dict[str, Any], *, scored: str) -> None:
    """The page; `scored` is the scored video's name in the run folder."""
    e, loud = html.escape, manifest["loudness"]
    qc = "".join(
        f"<tr><td>{e(a)}</td><td>{e(b)}</td><td class='{c.lower()}'>{e(c)}</td></tr>"
        for a, b, c in qc_rows(manifest)
    )
    duck = f", music ducked {loud['duck_db']:g} dB under them" if "duck_db" in loud else ""
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>scoreflow report: {e(scored)}</title><style>{CSS}</style>
<h1>scoreflow report: {e(Path(manifest["inputs"]["video"]["path"]).name)}</h1>
{_players(manifest, scored)}
<p>Backend {e(manifest["settings"]["pipeline"]["backend"])}, preset {e(loud["preset"])}
(target {loud["target_lufs"]} LUFS, ceiling {loud["true_peak_ceiling_dbtp"]} dBTP,
{e(loud["gate"])}-gated). Dialogue regions: {loud.get("dialogue_regions", 0)}{duck}.</p>
<h2>Timeline</h2>
{timeline_svg(manifest)}
<h2>QC (measured by ffmpeg ebur128 and packet hashes)</h2>
<table><tr><th>check</th><th>measured</th><th></th></tr>{qc}</table>
<h2>Quality (tasks/quality/measures.py: measured from each cue's audio and MIDI)</h2>
<p>{e(_quality_summary(manifest))}</p>
<table><tr><th>scene</th><th>overall</th><th>adherence</th><th>coherence</th><th>sync</th>
<th>originality</th><th>technical</th><th>theme (motif)</th><th>failed</th></tr>
{_quality_rows(manifest)}</table>
<h2>Scenes and cues</h2>
<table><tr><th>scene</th><th>cue</th><th>in</th><th>out</th><th>transition</th><th>genre</th>
<th>mood</th><th>bpm</th><th>key</th><th>fit</th><th>description</th><th>listen</th></tr>
{_scene_rows(manifest)}</table></html>
"""
    write_bytes(path, page.encode())
