"""MIDI -> stereo audio (a General MIDI SoundFont played by `soundfont`, plus a room),
and MIDI -> a Standard MIDI File that carries the plan's tempo map and meters.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pretty_midi
from scipy import signal

from scoreflow.tasks.backends.composer.plan import Plan
from scoreflow.tasks.backends.composer.soundfont import Note, load_soundfont, play


def default_soundfont() -> str:
    """TimGM6mb.sf2, the General MIDI SoundFont that ships with pretty_midi."""
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


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


def midi_bytes(pm: pretty_midi.PrettyMIDI, plan: Plan, *, resolution: int = 960) -> bytes:
    """A Standard MIDI File (type 1) of `pm` on the plan's own grid.

    The first track carries the tempo map, time signatures and key, so in a DAW the file's
    bars are the plan's bars (hit points on downbeats, the last barline on the cut).
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
    minor = plan.mode in ("minor", "dorian", "phrygian")
    sharps = ((plan.tonic - 3 * minor) * 7 + 6) % 12 - 6  # circle of fifths, -6..5
    meta.append((0, 3, _meta(0x59, bytes([sharps & 0xFF, int(minor)]))))
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


def synthesize(
    pm: pretty_midi.PrettyMIDI, *, sample_rate: int, samples: int, soundfont: str, gain_db: float
) -> np.ndarray:
    """Render MIDI with a SoundFont (`soundfont.play`), sample-accurate note timing, pan
    from CC 10 at each note's start, drums from bank 128.

    Returns
    -------
    np.ndarray, shape (samples, 2), float32
        Interleaved stereo frames (``.T`` gives the (channels, samples) view).
    """
    font = load_soundfont(soundfont)
    notes = []
    for i, inst in enumerate(pm.instruments):
        chan = channel_of(i, inst)
        pans = sorted((cc.time, cc.value) for cc in inst.control_changes if cc.number == 10)
        times = np.array([t for t, _ in pans])
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
    return play(font, notes, sample_rate=sample_rate, samples=samples, gain_db=gain_db)


def tone(frames: np.ndarray, sample_rate: int, *, brightness: float) -> np.ndarray:
    """Tilt the spectrum of interleaved stereo `frames` in place: a dark cue (brightness
    below -0.3) gets a one-pole low-pass falling from 6 kHz to 2 kHz at -1; a bright one
    (above 0.3) a high shelf rising to +6 dB above about 3 kHz at +1.

    Parameters
    ----------
    frames : np.ndarray, shape (samples, 2), float32
    brightness : float
        -1 dark .. +1 bright.
    """
    if abs(brightness) <= 0.3:
        return frames
    amount = (abs(brightness) - 0.3) / 0.7
    cutoff = 6000.0 - 4000.0 * amount if brightness < 0 else 3000.0
    b, a = signal.butter(1, cutoff / (sample_rate / 2))
    low = signal.lfilter(b.astype(np.float32), a.astype(np.float32), frames, axis=0)
    if brightness < 0:
        frames[:] = low
    else:
        frames += (10 ** (6 * amount / 20) - 1) * (frames - low)
    return frames


ROOM_DECIMATION = 4  # the reverb runs at a quarter of the sample rate (air damps the top)


@cache
def room_response(sample_rate: int, *, decay_s: float = 1.6) -> np.ndarray:
    """A stereo room impulse response at ``sample_rate / ROOM_DECIMATION``: decorrelated
    noise with an exponential decay (RT60 = `decay_s`), darker as it decays, 20 ms pre-delay.

    Returns
    -------
    np.ndarray, shape (2, n), float32, unit energy per channel
    """
    rate = sample_rate // ROOM_DECIMATION
    n = int(decay_s * rate)
    rng = np.random.default_rng(1234)
    t = np.arange(n) / rate
    noise = rng.standard_normal((2, n)) * np.exp(-6.91 * t / decay_s)
    b, a = signal.butter(1, 2500 / (rate / 2))
    dark = signal.lfilter(b, a, noise, axis=1)
    late = np.clip(t / (0.5 * decay_s), 0, 1)
    ir = noise * (1 - late) + dark * late
    ir = np.concatenate([np.zeros((2, int(0.02 * rate))), ir], axis=1)
    ir /= np.sqrt((ir**2).sum(axis=1, keepdims=True))
    return ir.astype(np.float32)


def add_room(frames: np.ndarray, sample_rate: int, *, send: float) -> np.ndarray:
    """Add a room reverb to interleaved stereo `frames` in place and return them.

    The mono sum is averaged down by ``ROOM_DECIMATION``, convolved with `room_response`,
    and brought back up by linear interpolation.

    Parameters
    ----------
    frames : np.ndarray, shape (samples, 2), float32, C-contiguous
    send : float
        Reverb level relative to the dry signal (0 = dry).
    """
    if send <= 0:
        return frames
    q = ROOM_DECIMATION
    m = frames.shape[0] // q
    mono = frames[: m * q].reshape(m, 2 * q) @ np.full(2 * q, send / (2 * q), np.float32)
    ir = room_response(sample_rate)
    wet = np.stack([signal.oaconvolve(mono, ir[c])[:m] for c in (0, 1)], axis=1)
    step = (wet[1:] - wet[:-1]).astype(np.float32)
    held = frames[: (m - 1) * q].reshape(m - 1, q, 2)
    for j in range(q):  # linear interpolation back to the full rate, one phase at a time
        held[:, j, :] += wet[:-1] + step * np.float32(j / q)
    return frames
