"""The embedded composer: Brief -> musical plan -> multi-track MIDI -> stereo audio.

Offline, deterministic per seed, no model download, no GPU.

- `plan`: the bar grid composed to length (tempo map and meters so that hit points are
  downbeats and the last bar closes on the cut), the form (intro, contrasting sections, an
  ending), energy per bar from the brief's curve, harmony (progressions by genre and mode,
  cadences, secondary dominants, a lift of a whole step for rising cues) and a two-bar motif
  varied per statement (sequence, inversion, retrograde, new rhythm, diminution);
- `parts`: notes for pads, keys or arpeggios, strummed guitar, genre bass lines (walking
  bass included), melody and counter-line, timpani strokes, genre drums with fills;
- `render`: a General MIDI SoundFont played by `soundfont`, part by part, and a MIDI file
  that carries the tempo map, meters and key;
- `production`: every part on its own channel strip (EQ, compression, width, reverb send),
  the genre's reverb (room, hall, plate) and master bus.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

import numpy as np
import pretty_midi

from scoreflow import config
from scoreflow.config.settings import Settings
from scoreflow.tasks.engines.base import within_headroom
from scoreflow.tasks.engines.composer import render as _render
from scoreflow.tasks.engines.composer.parts import TAIL_S, Writer, melody_instrument
from scoreflow.tasks.engines.composer.plan import (
    Plan,
    choose_beats,
    make_grid,
    make_plan,
    split_meters,
)
from scoreflow.tasks.engines.composer.production import mix_parts
from scoreflow.tasks.engines.composer.render import (
    bundled_soundfont,
    default_soundfont,
    midi_bytes,
    read_sound_text,
    sound_text,
    synthesize_parts,
    tone,
)
from scoreflow.tasks.engines.composer.soundfont import load_soundfont
from scoreflow.tasks.errors import BackendError, InputError
from scoreflow.tasks.music.theory import NAMES, chord
from scoreflow.tasks.timeline.model import Brief, Cue

__all__ = [
    "Composer",
    "Plan",
    "choose_beats",
    "chord",
    "default_soundfont",
    "make_grid",
    "make_plan",
    "split_meters",
]


class Composer:
    """The embedded, offline composer backend."""

    name = "composer"
    version = "0.2"
    max_seconds = math.inf
    commercial_use = True
    batched = False  # renders one cue at a time; nothing gained by gathering

    def __init__(
        self,
        *,
        sample_rate: int = 48000,
        soundfont: str | None = None,
        gain_db: float = -6.0,
        reverb: float = 1.0,
        vocab: dict[str, Any] | None = None,
        soundfont_licence: str = "",
    ) -> None:
        self.sample_rate = sample_rate
        self.soundfont = soundfont or default_soundfont()
        self.notices: list[str] = []
        if self.soundfont == bundled_soundfont():
            self.notices.append(
                "the composer plays TimGM6mb.sf2 (6 MB, GPL-2.0), a thin General MIDI set: "
                "install Debian's musescore-general-soundfont (make system, as root) or set "
                "composer.soundfont for a finished sound"
            )
        try:
            self.font = load_soundfont(self.soundfont)
        except InputError as exc:
            raise InputError(
                exc.message,
                field="composer.soundfont",
                value=self.soundfont,
                fix="Give the path of a General MIDI SoundFont (.sf2 or .sf3)",
            ) from None
        if not 0.0 <= reverb <= 2.0:
            raise InputError(
                "must be between 0 (dry) and 2 (twice the genre's reverb)",
                field="composer.reverb",
                value=reverb,
            )
        self.gain_db, self.reverb = gain_db, reverb
        self.vocab = vocab or config.styles()
        for name, genre in self.vocab["genres"].items():
            for mode in ("major", "minor"):
                for progression in genre[mode]:
                    for numeral in progression.split():
                        try:
                            chord(numeral, 0)
                        except InputError as exc:
                            raise InputError(
                                exc.message,
                                field=f"genres.{name}.{mode}",
                                value=numeral,
                                fix=exc.fix,
                            ) from None
        self.model = os.path.basename(self.soundfont)
        self.soundfont_licence = _render.soundfont_licence(
            self.soundfont,
            declared=soundfont_licence,
            copyright=self.font.info.get("copyright", ""),
        )
        self.licence = (
            f"scoreflow composer output, free to use; samples from {self.model} "
            f"({self.soundfont_licence})"
        )
        if self.soundfont_licence.startswith(("unknown", "unverified")):
            self.notices.append(
                f"the licence of {self.model} is {self.soundfont_licence}: its samples are in "
                "every cue; set composer.soundfont_licence to what its author grants"
            )
        self.fonts, self.font_licences = self._instrument_fonts()

    def _instrument_fonts(self) -> tuple[dict[str, tuple[str, int, int]], dict[str, str]]:
        """Instruments played from a SoundFont of their own (``soundfont``, ``bank``,
        ``preset`` in styles.toml; preset defaults to the GM program), each font loaded
        once, and the licence of each (``soundfont_licence`` there, else as for the main
        font)."""
        fonts, licences = {}, {}
        for name, entry in self.vocab["instruments"].items():
            path = entry.get("soundfont", "")
            if not path:
                continue
            font = load_soundfont(path)
            fonts[name] = (
                path,
                int(entry.get("bank", 0)),
                int(entry.get("preset", entry["program"])),
            )
            said = _render.soundfont_licence(
                path, declared=entry.get("soundfont_licence", ""),
                copyright=font.info.get("copyright", ""),
            )  # fmt: skip
            licences[name] = f"{os.path.basename(path)} ({said})"
            if said.startswith(("unknown", "unverified")):
                self.notices.append(
                    f"the licence of {os.path.basename(path)} ({name}) is {said}: set "
                    f"instruments.{name}.soundfont_licence in your styles file"
                )
        return fonts, licences

    def cue_licence(self, instruments: tuple[str, ...]) -> str:
        """The licence line of a cue: the main SoundFont's, and each own font it plays."""
        extra = [f"{name} from {self.font_licences[name]}" for name in instruments
                 if name in self.font_licences]  # fmt: skip
        return "; ".join([self.licence, *extra])

    @classmethod
    def from_config(cls, settings: Settings) -> Composer:
        composer, pipeline = settings.composer, settings.pipeline
        # pipeline.model names a SoundFont only when the composer is the backend (as a
        # guide for a neural backend it is that backend's model)
        own_model = pipeline.model if pipeline.backend == "composer" else ""
        return cls(
            sample_rate=pipeline.sample_rate,
            soundfont=composer.soundfont or own_model or None,
            gain_db=composer.gain_db,
            reverb=composer.reverb,
            vocab=config.styles(composer.styles),
            soundfont_licence=composer.soundfont_licence,
        )

    def self_check(self) -> str:
        """Prove the composer can render here: a C major piano chord through the SoundFont,
        measured; a silent result is a `BackendError`."""
        pm = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(program=0)
        piano.notes = [pretty_midi.Note(100, key, 0.0, 0.4) for key in (60, 64, 67)]
        pm.instruments.append(piano)
        audio = self.render(pm, self.sample_rate // 2)
        peak = float(np.abs(audio).max())
        if not peak > 1e-4:
            raise BackendError(f"the SoundFont {self.soundfont} rendered a test chord as silence")
        return (
            f"composer: {self.model} ({len(self.font.presets)} presets), a test chord "
            f"peaks at {20 * math.log10(peak):.1f} dBFS"
        )

    def compose(
        self, brief: Brief, *, seconds: float, seed: int
    ) -> tuple[Plan, pretty_midi.PrettyMIDI]:
        """The plan and the MIDI of one cue (no audio)."""
        if seconds <= 0:
            raise InputError("cue length must be positive", scene=brief.scene_id, value=seconds)
        rng = np.random.default_rng(seed)
        plan = make_plan(brief, seconds, rng, self.vocab)
        return plan, Writer(plan, brief, rng, self.vocab).write()

    def production(self, genre: str) -> dict[str, Any]:
        """The production template of a genre (``[production.<name>]`` in styles.toml)."""
        templates = self.vocab.get("production", {})
        name = self.vocab["genres"].get(genre, {}).get("production", genre)
        return dict(templates.get(name) or templates.get("default") or {})

    def render(
        self,
        pm: pretty_midi.PrettyMIDI,
        samples: int,
        *,
        brightness: float = 0.0,
        production: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Audio of shape (2, samples): each part synthesized and put through its channel
        strip, the reverb and master bus of `production` (default: the ``default``
        template), then the brief's tone."""
        parts = synthesize_parts(
            pm,
            sample_rate=self.sample_rate,
            samples=samples,
            soundfont=self.soundfont,
            gain_db=self.gain_db,
            fonts=self.fonts,
        )
        audio = mix_parts(
            parts,
            self.sample_rate,
            template=self.production("") if production is None else production,
            reverb_amount=self.reverb,
        )
        return tone(audio, self.sample_rate, brightness=brightness)

    def render_file(
        self, path: str | os.PathLike[str], *, seconds: float | None = None
    ) -> np.ndarray:
        """Render a MIDI file, e.g. a cue's exported MIDI after editing it in a DAW.

        A file the composer exported is mixed with its genre's production and tone (they
        travel in a text event); another with the ``default`` production.

        Parameters
        ----------
        seconds : float, optional
            Length of the result; by default the file's last note-off.

        Returns
        -------
        np.ndarray, shape (2, samples), float32, peak at most -1 dBFS
        """
        try:
            pm = pretty_midi.PrettyMIDI(os.fspath(path))
        except FileNotFoundError:
            raise InputError("MIDI file not found", source=os.fspath(path)) from None
        except Exception as exc:
            raise InputError(
                f"not a readable MIDI file ({exc})",
                source=os.fspath(path),
                fix="Give a Standard MIDI File (.mid), such as cues/<scene>.mid",
            ) from None
        length = pm.get_end_time() if seconds is None else seconds
        if length <= 0:
            raise InputError("nothing to render", source=os.fspath(path), value=length)
        sound = read_sound_text(pm)  # a cue we exported: mixed as it was
        try:
            brightness = float(sound.get("brightness", 0.0))
        except ValueError:
            brightness = 0.0
        audio = self.render(
            pm,
            round(length * self.sample_rate),
            brightness=brightness,
            production=self.production(sound.get("production", "")),
        )
        return within_headroom(audio)

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        if len(briefs) != len(seconds):
            raise ValueError(f"{len(briefs)} briefs but {len(seconds)} lengths")
        cues = []
        for i, (brief, secs) in enumerate(zip(briefs, seconds, strict=True)):
            plan, written = self.compose(brief, seconds=secs, seed=seed + i)
            sound = sound_text(production=brief.genre, brightness=brief.brightness)
            midi = midi_bytes(written, plan, sound=sound)
            # what is heard is the exported file, to the tick: it renders back the same
            pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
            body = round(secs * self.sample_rate)
            audio = self.render(
                pm,
                body + round(TAIL_S * self.sample_rate),
                brightness=brief.brightness,
                production=self.production(brief.genre),
            )
            audio = within_headroom(audio)
            cues.append(
                Cue(
                    scene_id=brief.scene_id,
                    audio=audio[:, :body],
                    tail=audio[:, body:],
                    sample_rate=self.sample_rate,
                    backend=self.name,
                    model=self.model,
                    prompt=brief.prompt,
                    seed=seed + i,
                    licence=self.cue_licence(brief.instruments),
                    bpm=round(plan.bpm, 3),
                    key=f"{NAMES[plan.tonic]} {plan.mode}",
                    beats_per_bar=4,
                    midi=midi,
                    metrics={
                        "bars": len(plan.bars),
                        "meters": plan.meters(),
                        "tempo_map": plan.tempo_map(),
                        "tempo_error_bpm": plan.tempo_error_bpm,
                        "form": " ".join(f"{s.name}:{s.count}" for s in plan.sections),
                        "downbeats_s": [round(t, 4) for t in plan.downbeats_s()],
                        "hits_s": list(brief.hits_s),
                        "off_grid_hits_s": plan.off_grid_hits_s,
                        "modulation": plan.modulation,
                        "genre": brief.genre,
                        "mood": brief.mood,
                        "curve": brief.curve,
                        "instruments": list(brief.instruments),
                        "melody": melody_instrument(brief, self.vocab) or "melody",
                        "soundfont": self.model,
                        "soundfont_licence": self.soundfont_licence,
                    },
                )
            )
        return cues
