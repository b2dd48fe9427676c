"""The catalogue's own files: catalog.csv, catalog.json and index.html (a player per
version, a waveform per track, filters by genre, mood and BPM; no network), and the
track titles.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from scoreflow.tasks.cloud.storage import write_bytes
from scoreflow.tasks.delivery.deliver import spreadsheet_safe

CSV_FIELDS = (
    "track_id",
    "title",
    "version",
    "kind",
    "format",
    "stem",
    "duration_s",
    "samples",
    "bpm",
    "bpm_plan",
    "key",
    "key_plan",
    "tag_flags",
    "genre",
    "mood",
    "instruments",
    "energy",
    "keywords",
    "loudness_lufs",
    "true_peak_dbtp",
    "button_s",
    "loop_bars",
    "file",
    "sha256",
    "bytes",
    "backend",
    "model",
    "licence",
    "seed",
    "similarity",
    "nearest",
    "tries",
    "unavailable",
    "description",
)


def make_title(
    track_id: str, *, genre: str, mood: str, seed: int, vocab: dict[str, Any], taken: set[str]
) -> str:
    """A title from the vocabulary's ``[titles]`` words for the mood and genre, unique
    among `taken` (case-insensitive): the seed picks a pattern and words, and the next
    combinations are tried before a numeral is added."""
    words = vocab.get("titles", {})
    adjectives = words.get("moods", {}).get(mood) or words.get("adjectives", ["Quiet"])
    nouns = words.get("genres", {}).get(genre) or words.get("nouns", ["Light"])
    places = words.get("places", ["Morning"])
    digest = int.from_bytes(hashlib.sha256(f"{seed}:{track_id}".encode()).digest()[:8], "big")
    combos = []
    for k in range(len(adjectives) * len(nouns)):
        a = adjectives[(digest + k) % len(adjectives)]
        n = nouns[(digest // 7 + k * 3) % len(nouns)]
        p = places[(digest // 13 + k) % len(places)]
        combos.append([f"{a} {n}", f"{n} of {p}", f"{a} {p}"][(digest + k) % 3])
    for title in combos:
        if title.lower() not in taken:
            return title
    k = 2
    while f"{combos[0]} {k}".lower() in taken:
        k += 1
    return f"{combos[0]} {k}"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_safe(_cell(row.get(k, ""))) for k in CSV_FIELDS})
    write_bytes(path, buf.getvalue().encode("utf-8"))


def _cell(value: Any) -> Any:
    return " ".join(str(v) for v in value) if isinstance(value, list) else value


def write_json(path: Path, catalogue: dict[str, Any]) -> None:
    write_bytes(path, json.dumps(catalogue, indent=1, default=str).encode())


def waveform_svg(path: Path, wav: Path, *, width: int = 600, height: int = 60) -> None:
    """A waveform image (SVG) of a WAV: the peak per column, mirrored."""
    data, _ = soundfile.read(wav, dtype="float32", always_2d=True)
    mono = np.abs(data).max(axis=1)
    cols = np.array_split(mono, width)
    peaks = [float(c.max()) if len(c) else 0.0 for c in cols]
    mid = height / 2
    top = " ".join(f"{x},{mid - p * mid:.1f}" for x, p in enumerate(peaks))
    bottom = " ".join(f"{x},{mid + p * mid:.1f}" for x, p in reversed(list(enumerate(peaks))))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><polygon points="{top} {bottom}" '
        'fill="#3b6ea5"/></svg>'
    )
    write_bytes(path, svg.encode())


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}
.track{{border-top:1px solid #ccc;padding:1em 0}} .track h2{{margin:0;font-size:1.2em}}
.meta{{color:#555}} .versions{{display:flex;flex-wrap:wrap;gap:.5em 1.5em}}
.version{{display:flex;flex-direction:column}} audio{{width:260px}}
.flag{{color:#a33}} #filters label{{margin-right:1em}}
</style></head><body>
<h1>{name}</h1>
<p id="count"></p>
<form id="filters">
<label>Genre <select id="genre"><option value="">all</option>{genres}</select></label>
<label>Mood <select id="mood"><option value="">all</option>{moods}</select></label>
<label>BPM from <input id="bpm-min" type="number" value="0" min="0" max="300"></label>
<label>to <input id="bpm-max" type="number" value="300" min="0" max="300"></label>
</form>
{tracks}
<script>
function apply() {{
  var g = document.getElementById('genre').value, m = document.getElementById('mood').value;
  var lo = +document.getElementById('bpm-min').value;
  var hi = +document.getElementById('bpm-max').value;
  var shown = 0;
  document.querySelectorAll('.track').forEach(function (t) {{
    var bpm = +t.dataset.bpm;
    var ok = (!g || t.dataset.genre === g) && (!m || t.dataset.mood === m)
      && bpm >= lo && bpm <= hi;
    t.hidden = !ok; if (ok) shown++;
  }});
  document.getElementById('count').textContent = shown + ' of {n} tracks';
}}
document.querySelectorAll('#filters select, #filters input').forEach(function (e) {{
  e.addEventListener('input', apply); e.addEventListener('change', apply);
}});
// a link may carry filters: index.html#genre=rock&mood=tense&bpm-min=100
location.hash.slice(1).split('&').forEach(function (kv) {{
  var p = kv.split('='), e = p[0] && document.getElementById(decodeURIComponent(p[0]));
  if (e) {{ e.value = decodeURIComponent(p[1] || ''); e.dispatchEvent(new Event('change')); }}
}});
apply();
</script>
</body></html>
"""


def write_index(path: Path, catalogue: dict[str, Any]) -> None:
    """index.html beside the catalogue: relative links only, so it works wherever the
    folder goes and fetches nothing."""
    tracks = catalogue["tracks"]
    esc = html.escape
    blocks = []
    for t in tracks:
        players = []
        for v in t["versions"]:
            if not v.get("file"):
                continue
            players.append(
                f'<div class="version"><span>{esc(v["version"])} '
                f'({v["duration_s"]:.1f} s)</span><audio controls preload="none" '
                f'src="{esc(v["file"])}"></audio></div>'
            )
        flags = "".join(f'<p class="flag">{esc(f)}</p>' for f in t.get("flags", []))
        missing = t.get("unavailable", "")
        blocks.append(
            f'<section class="track" data-genre="{esc(t["genre"])}" data-mood="{esc(t["mood"])}" '
            f'data-bpm="{t["bpm"]}"><h2>{esc(t["title"])}</h2>'
            f'<p class="meta">{esc(t["id"])} · {esc(t["genre"])} · {esc(t["mood"])} · '
            f"{t['bpm']:.0f} bpm · {esc(t['key'])} · {esc(', '.join(t['instruments']))}</p>"
            f'<img alt="waveform of {esc(t["title"])}" src="{esc(t["waveform"])}">'
            f'<div class="versions">{"".join(players)}</div>{flags}'
            + (f'<p class="meta">not made: {esc(missing)}</p>' if missing else "")
            + "</section>"
        )
    options = {
        key: "".join(
            f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted({t[key] for t in tracks})
        )
        for key in ("genre", "mood")
    }
    page = PAGE.format(
        name=esc(catalogue["name"]),
        genres=options["genre"],
        moods=options["mood"],
        tracks="\n".join(blocks),
        n=len(tracks),
    )
    write_bytes(path, page.encode())
