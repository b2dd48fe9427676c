"""The rules of the composer's vocabulary (config/styles.toml and a user's styles file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import InputError

BASS_STYLES = ("sustained", "root-fifth", "eighths", "octaves", "syncopated", "walking")
ROLES = ("keys", "pad", "lead", "bass", "guitar", "perc")
#: the reverb spaces a production template may name (`tasks.engines.composer.production.SPACES`)
REVERB_SPACES = ("room", "hall", "plate")

PRODUCTION_RANGES = {
    "reverb_send": (0.0, 3.0),
    "width": (0.0, 2.0),
    "low_db": (-12.0, 12.0),
    "presence_db": (-12.0, 12.0),
    "air_db": (-12.0, 12.0),
    "exciter": (0.0, 4.0),
    "glue_ratio": (1.0, 10.0),
    "glue_threshold_db": (-40.0, 0.0),
}

Bad = Callable[[str, Any, str], InputError]


def check_styles(vocab: dict[str, Any], source: str) -> None:
    """Every entry of a merged vocabulary names things that exist, with sound numbers."""

    def bad(field: str, value: Any, fix: str) -> InputError:
        return InputError("invalid style entry", source=source, field=field, value=value, fix=fix)

    _check_instruments(vocab["instruments"], bad)
    _check_genres(vocab, bad)
    for name, m in vocab["moods"].items():
        if not (-1 <= m.get("valence", 9) <= 1 and 0 <= m.get("arousal", 9) <= 1):
            raise bad(f"moods.{name}", m, "valence in -1..1 and arousal in 0..1")
    _check_production(vocab.get("production", {}), bad)
    for name, pattern in vocab["drums"].items():
        for part in ("kick", "snare", "hat", "tom"):
            if len(pattern.get(part, "")) != 16:
                raise bad(f"drums.{name}.{part}", pattern.get(part), "16 steps of x, o or .")


def _check_instruments(instruments: dict[str, Any], bad: Bad) -> None:
    for name, inst in instruments.items():
        if inst.get("role") not in ROLES:
            raise bad(f"instruments.{name}.role", inst.get("role"), f"Use one of {ROLES}")
        if not 0 <= int(inst.get("program", -1)) <= 127:
            raise bad(f"instruments.{name}.program", inst.get("program"), "A GM program 0-127")
        font = inst.get("soundfont", "")
        if font and not Path(font).is_file():
            raise bad(f"instruments.{name}.soundfont", font, "The path of a .sf2 or .sf3 file")
        span = inst.get("range")
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(v, int) for v in span)
            and 0 <= span[0] <= span[1] - 12 <= 115
        ):
            raise bad(
                f"instruments.{name}.range",
                span,
                "[lowest, highest] MIDI notes of the real instrument, at least an octave apart",
            )


def _check_genres(vocab: dict[str, Any], bad: Bad) -> None:
    instruments, drums = vocab["instruments"], vocab["drums"]
    for name, g in vocab["genres"].items():
        lo, hi = g.get("tempo_bpm", (0, 0))
        if not 20 <= lo <= hi <= 300:
            raise bad(f"genres.{name}.tempo_bpm", g.get("tempo_bpm"), "[lo, hi] within 20-300")
        for inst in g.get("instruments", []):
            if inst not in instruments:
                raise bad(f"genres.{name}.instruments", inst, "Name instruments defined here")
        if g.get("drums") not in drums:
            raise bad(f"genres.{name}.drums", g.get("drums"), f"One of {', '.join(drums)}")
        if g.get("bass") not in BASS_STYLES:
            raise bad(f"genres.{name}.bass", g.get("bass"), f"One of {', '.join(BASS_STYLES)}")
        for mode in ("major", "minor"):
            if not g.get(mode):
                raise bad(f"genres.{name}.{mode}", g.get(mode), "At least one progression")


def _check_production(templates: dict[str, Any], bad: Bad) -> None:
    if "default" not in templates:
        raise bad("production.default", None, "Keep a [production.default] template")
    for name, t in templates.items():
        if t.get("reverb", "room") not in REVERB_SPACES:
            raise bad(
                f"production.{name}.reverb", t.get("reverb"), f"One of {', '.join(REVERB_SPACES)}"
            )
        for key, value in t.items():
            if key == "reverb":
                continue
            if key not in PRODUCTION_RANGES:
                known = ", ".join(PRODUCTION_RANGES)
                raise bad(f"production.{name}.{key}", value, f"Settings: reverb, {known}")
            lo, hi = PRODUCTION_RANGES[key]
            if not isinstance(value, int | float) or not lo <= value <= hi:
                raise bad(f"production.{name}.{key}", value, f"A number from {lo} to {hi}")
