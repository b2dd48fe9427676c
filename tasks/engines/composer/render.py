"""MIDI -> stereo audio (a General MIDI SoundFont played by `soundfont`, part by part),
and MIDI -> a Standard MIDI File that carries the plan's tempo map and meters.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pretty_midi
from scipy import signal

from scoreflow.tasks.engines.composer.plan import Plan
from scoreflow.tasks.engines.composer.production import role_of
from scoreflow.tasks.engines.composer.soundfont import Note, load_soundfont, play
from scoreflow.tasks.music.theory import DARK_MODES

# General MIDI SoundFonts tried in order when none is configured: Debian's
# musescore-general-soundfont and fluid-soundfont-gm (both MIT; `make system` installs the
# first as root), then TimGM6mb.sf2, which pretty_midi ships (GPL-2.0, 6 MB, thin sound).
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
)
# Licences of the SoundFonts we know by file name (their samples are in every cue).
KNOWN_LICENCES = {
    "TimGM6mb.sf2": "GPL-2.0",
    "MuseScore_General.sf3": "MIT",
    "MuseScore_General_Full.sf3": "MIT",
    "MuseScore_General.sf2": "MIT",
    "FluidR3_GM.sf2": "MIT",
}


def bundled_soundfont() -> str:
    """TimGM6mb.sf2, the General MIDI SoundFont that ships with pretty_midi."""
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def default_soundfont() -> str:
    """The best General MIDI SoundFont on this machine (`SYSTEM_SOUNDFONTS`), else
    `bundled_soundfont`."""
    for path in SYSTEM_SOUNDFONTS:
        if os.path.isfile(path):
            return path
    return bundled_soundfont()


def soundfont_licence(path: str, *, declared: str = "", copyright: str = "") -> str:
    """The licence of a SoundFont's samples: `declared` (``composer.soundfont_licence``),
    else the known licence of its file name (links followed), else what its own copyright
    field says, marked unverified."""
    if declared:
        return declared
    for name in (os.path.basename(path), os.path.basename(os.path.realpath(path))):
        if name in KNOWN_LICENCES:
            return KNOWN_LICENCES[name]
    if copyright:
        return f"unverified, the file says: {copyright}"
    return "unknown"


def channel_of(index: int, inst: pretty_midi.Instrument) -> int:
    """MIDI channel of the `index`-th instrument: drums on 10, the rest round the others."""
    return 9 if inst.is_drum else [c for c in range(16) if c != 9][index % 15]


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _chunk(events: list[tuple[int, int, bytes]]) -> bytes:
    """An MTrk chunk from (tick, order, event bytes), ordered by tick then `order`."""
    body, last = bytearray(), 0
    for tick, _, data in sorted(events, key=lambda e: (e[0], e[1])):
        body += _vlq(tick - last) + data
        last = tick
    body += b"\x00\xff\x2f\x00"  # end of track
    return b"MTrk" + len(body).to_bytes(4, "big") + bytes(body)


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _vlq(len(data)) + data


SOUND_TAG = "scoreflow sound:"  # a text event: how the cue was mixed, for `render`


def sound_text(*, production: str, brightness: float) -> str:
    """The text event that lets `render` mix an exported cue as it was mixed."""
    return f"{SOUND_TAG} production={production} brightness={brightness:g}"


def read_sound_text(pm: pretty_midi.PrettyMIDI) -> dict[str, str]:
    """``{"production": ..., "brightness": ...}`` from a file's `sound_text` ({} if none)."""
    for event in getattr(pm, "text_events", []):
        if event.text.startswith(SOUND_TAG):
            pairs = (w.split("=", 1) for w in event.text[len(SOUND_TAG) :].split() if "=" in w)
            return dict(pairs)
    return {}


def midi_bytes(
    pm: pretty_midi.PrettyMIDI, plan: Plan, *, resolution: int = 960, sound: str = ""
) -> bytes:
    """A Standard MIDI File (type 1) of `pm` on the plan's own grid.

    The first track carries the tempo map, time signatures and key, so in a DAW the file's
    bars are the plan's bars (hit points on downbeats, the last barline on the cut), and
    `sound` (a `sound_text`) as a text event.

    Written by hand, not with mido: mido's writer always uses running status (a repeated
    status byte is left out), so the same messages come out as other bytes (4-8 % fewer)
    and every exported file's hash in the run manifest would change; it is also 4-30 times
    slower here (mido 1.3, seven 20 s cues of five genres: 0.7-3 ms against 2.7-27 ms a
    file). mido reads both files back as the same messages.
    """
    starts = np.array([b.start_s for b in plan.bars])
    beat_s = np.array([b.beat_s for b in plan.bars])
    first_tick = np.concatenate([[0], np.cumsum([b.beats for b in plan.bars])[:-1]]) * resolution

    def ticks(times: list[float]) -> list[int]:
        t = np.asarray(times, dtype=np.float64)
        i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return (
            np.rint(first_tick[i] + (t - starts[i]) / beat_s[i] * resolution).astype(int).tolist()
        )

    meta: list[tuple[int, int, bytes]] = [(0, 0, _meta(0x03, b"tempo map"))]
    for k, (bar, tick) in enumerate(zip(plan.bars, first_tick.tolist(), strict=True)):
        if k == 0 or bar.bpm != plan.bars[k - 1].bpm:
            meta.append((tick, 1, _meta(0x51, round(60e6 / bar.bpm).to_bytes(3, "big"))))
        if k == 0 or bar.beats != plan.bars[k - 1].beats:
            meta.append((tick, 2, _meta(0x58, bytes([bar.beats, 2, 24, 8]))))
    minor, sharps = key_signature(plan.tonic, plan.mode)
    meta.append((0, 3, _meta(0x59, bytes([sharps & 0xFF, int(minor)]))))
    if sound:
        meta.append((0, 4, _meta(0x01, sound.encode())))
    tracks = [_chunk(meta)]
    for i, inst in enumerate(pm.instruments):
        chan = channel_of(i, inst)
        events: list[tuple[int, int, bytes]] = [(0, 0, _meta(0x03, inst.name.encode()))]
        if not inst.is_drum:
            events.append((0, 1, bytes([0xC0 | chan, inst.program])))
        for cc, tick in zip(
            inst.control_changes, ticks([c.time for c in inst.control_changes]), strict=True
        ):
            events.append((tick, 2, bytes([0xB0 | chan, cc.number, cc.value])))
        on = ticks([n.start for n in inst.notes])
        off = ticks([n.end for n in inst.notes])
        for n, a, b in zip(inst.notes, on, off, strict=True):
            events.append((a, 4, bytes([0x90 | chan, n.pitch, n.velocity])))
            events.append((max(b, a + 1), 3, bytes([0x80 | chan, n.pitch, 0])))
        tracks.append(_chunk(events))
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 1]) + len(tracks).to_bytes(2, "big")
    return header + resolution.to_bytes(2, "big") + b"".join(tracks)


def key_signature(tonic: int, mode: str) -> tuple[bool, int]:
    """``(minor, sharps)`` of the MIDI key signature for a tonic pitch class and mode.

    Dark modes are written as the minor key on the same tonic, the others as its major key,
    so a reader (pretty_midi's ``key_number``) gets the brief's tonic back. `sharps` counts
    sharps (negative: flats) of the major key, or of a minor key's relative major (a minor
    third up), -6..5: C minor is three flats, F# minor three sharps.
    """
    minor = mode in DARK_MODES
    major = (tonic + 3 * minor) % 12
    return minor, (major * 7 + 6) % 12 - 6


def _notes(
    inst: pretty_midi.Instrument, chan: int, *, sample_rate: int, samples: int
) -> list[Note]:
    """An instrument's notes for `play`: sample-accurate times, pan from CC 10 at each
    note's start, drums from bank 128."""
    pans = sorted((cc.time, cc.value) for cc in inst.control_changes if cc.number == 10)
    times = np.array([t for t, _ in pans])
    notes = []
    for n in inst.notes:
        k = int(np.searchsorted(times, n.start, side="right")) - 1
        notes.append(
            Note(
                channel=chan,
                bank=128 if inst.is_drum else 0,
                program=0 if inst.is_drum else inst.program,
                key=n.pitch,
                velocity=n.velocity,
                on=min(round(n.start * sample_rate), samples),
                off=min(round(n.end * sample_rate), samples),
                pan=pans[k][1] / 127 - 0.5 if k >= 0 else 0.0,
            )
        )
    return notes


def synthesize(
    pm: pretty_midi.PrettyMIDI, *, sample_rate: int, samples: int, soundfont: str, gain_db: float
) -> np.ndarray:
    """Render MIDI with a SoundFont (`soundfont.play`) as one stereo signal, no mixing:
    note timing sample-accurate, pan from CC 10, no expression.

    Returns
    -------
    np.ndarray, shape (samples, 2), float32
        Interleaved stereo frames (``.T`` gives the (channels, samples) view).
    """
    notes = [
        note
        for i, inst in enumerate(pm.instruments)
        for note in _notes(inst, channel_of(i, inst), sample_rate=sample_rate, samples=samples)
    ]
    font = load_soundfont(soundfont)
    return play(font, notes, sample_rate=sample_rate, samples=samples, gain_db=gain_db)


def expression(
    inst: pretty_midi.Instrument, *, sample_rate: int, samples: int
) -> np.ndarray | None:
    """The gain of an instrument's CC 7 (volume) and CC 11 (expression) over time, each
    ``(value / 127) ** 2`` as General MIDI has it, linear between events; None when it
    sends neither.

    Returns
    -------
    np.ndarray, shape (samples,), float32, or None
    """
    gain = None
    for number in (7, 11):
        events = sorted((cc.time, cc.value) for cc in inst.control_changes if cc.number == number)
        if not events:
            continue
        at = np.array([t * sample_rate for t, _ in events])
        value = np.array([(v / 127) ** 2 for _, v in events])
        curve = np.interp(np.arange(samples, dtype=np.float64), at, value).astype(np.float32)
        gain = curve if gain is None else gain * curve
    return gain


def synthesize_parts(
    pm: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    samples: int,
    soundfont: str,
    gain_db: float,
    fonts: dict[str, tuple[str, int, int]] | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Each instrument rendered on its own, with its expression (CC 7, CC 11) applied.

    Parameters
    ----------
    fonts : dict, optional
        Instrument name -> (SoundFont, bank, preset) for instruments played from a font of
        their own (``soundfont`` in styles.toml); the others play `soundfont`.

    Returns
    -------
    list of (role, audio)
        `production.role_of` the instrument, and its audio of shape (2, samples), float32.
    """
    parts = []
    for i, inst in enumerate(pm.instruments):
        notes = _notes(inst, channel_of(i, inst), sample_rate=sample_rate, samples=samples)
        path = soundfont
        if fonts and inst.name in fonts and not inst.is_drum:
            path, bank, preset = fonts[inst.name]
            notes = [replace(n, bank=bank, program=preset) for n in notes]
        audio = play(
            load_soundfont(path), notes, sample_rate=sample_rate, samples=samples,
            gain_db=gain_db, planar=True,
        )  # fmt: skip
        gain = expression(inst, sample_rate=sample_rate, samples=samples)
        if gain is not None:
            audio *= gain
        parts.append((role_of(inst.program, is_drum=inst.is_drum), audio))
    return parts


def tone(audio: np.ndarray, sample_rate: int, *, brightness: float) -> np.ndarray:
    """Tilt the spectrum of (2, samples) `audio`: a dark cue (brightness below -0.3) gets
    a one-pole low-pass falling from 6 kHz to 2 kHz at -1; a bright one (above 0.3) a high
    shelf rising to +6 dB above about 3 kHz at +1.

    Parameters
    ----------
    audio : np.ndarray, shape (2, samples), float32
    brightness : float
        -1 dark .. +1 bright.
    """
    if abs(brightness) <= 0.3:
        return audio
    amount = (abs(brightness) - 0.3) / 0.7
    cutoff = 6000.0 - 4000.0 * amount if brightness < 0 else 3000.0
    b, a = signal.butter(1, cutoff / (sample_rate / 2))
    low = signal.lfilter(b.astype(np.float32), a.astype(np.float32), audio, axis=-1)
    if brightness < 0:
        return low.astype(np.float32)
    return audio + np.float32(10 ** (6 * amount / 20) - 1) * (audio - low)
