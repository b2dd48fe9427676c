"""The SoundFont player, on SoundFonts built here sample by sample, measured from its output."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from scoreflow.tasks.engines.composer import soundfont as sf
from scoreflow.tasks.engines.composer.render import default_soundfont
from scoreflow.tasks.errors import InputError

SR = 48000


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + len(body).to_bytes(4, "little") + body + b"\0" * (len(body) & 1)


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _records(dtype: np.dtype, rows: list[tuple]) -> bytes:
    return np.array(rows, dtype=dtype).tobytes()


def build_sf2(
    samples: list[np.ndarray],
    zones: list[dict[int, int]],
    *,
    rate: int = SR,
    root: int = 69,
    vorbis: bool = False,
    bank: int = 0,
    copyright: str = "",
) -> bytes:
    """A SoundFont with one instrument whose zones are `zones` (each names its sample by
    generator 53) in one preset (bank `bank`, program 0). Samples loop over their whole
    length; with `vorbis`, they are stored as SF3 Ogg Vorbis streams."""
    pool, heads = bytearray(), []
    for i, data in enumerate(samples):
        if vorbis:
            buf = io.BytesIO()
            soundfile.write(buf, data, rate, format="OGG", subtype="VORBIS")
            start, blob = len(pool), buf.getvalue()
            pool += blob
            heads.append((f"s{i}".encode(), start, len(pool), 0, len(data), rate, root, 0, 0, 0x11))
        else:
            start = len(pool) // 2
            pool += (np.clip(data, -1, 1) * 32767).astype("<i2").tobytes() + b"\0" * 92
            end = start + len(data)
            heads.append((f"s{i}".encode(), start, end, start, end, rate, root, 0, 0, 1))
    heads.append((b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    igen: list[tuple[int, int]] = []
    ibag = []
    for zone in zones:
        ibag.append((len(igen), 0))
        ordered = sorted(zone.items(), key=lambda kv: (kv[0] != 43, kv[0] != 44, kv[0] == 53))
        igen += [(oper, amount if amount < 32768 else amount - 65536) for oper, amount in ordered]
    ibag.append((len(igen), 0))
    igen.append((0, 0))
    pdta = _list(
        b"pdta",
        _chunk(
            b"phdr", _records(sf.PHDR, [(b"p", 0, bank, 0, 0, 0, 0), (b"EOP", 0, 0, 1, 0, 0, 0)])
        ),
        _chunk(b"pbag", _records(sf.BAG, [(0, 0), (1, 0)])),
        _chunk(b"pmod", b"\0" * 10),
        _chunk(b"pgen", _records(sf.GEN, [(41, 0), (0, 0)])),
        _chunk(b"inst", _records(sf.INST, [(b"i", 0), (b"EOI", len(zones))])),
        _chunk(b"ibag", _records(sf.BAG, ibag)),
        _chunk(b"imod", b"\0" * 10),
        _chunk(b"igen", _records(sf.GEN, igen)),
        _chunk(b"shdr", _records(sf.SHDR, heads)),
    )
    icop = _chunk(b"ICOP", copyright.encode() + b"\0") if copyright else b""
    info = _list(b"INFO", _chunk(b"ifil", bytes([3 if vorbis else 2, 0, 1, 0])) + icop)
    body = b"sfbk" + info + _list(b"sdta", _chunk(b"smpl", bytes(pool))) + pdta
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def sine(hz: float, seconds: float, rate: int = SR) -> np.ndarray:
    """A sine whose length is whole periods, so it loops without a seam."""
    n = round(round(seconds * hz) * rate / hz)
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def render(tmp_path: Path, font: bytes, notes: list[sf.Note], seconds: float = 2.0):
    path = tmp_path / f"f{abs(hash(font)) % 10**8}.sf2"
    path.write_bytes(font)
    return sf.play(
        sf.load_soundfont(path), notes, sample_rate=SR, samples=round(seconds * SR), gain_db=0
    )


def note(key: int = 69, velocity: int = 127, on_s: float = 0.0, off_s: float = 1.0, **kw):
    return sf.Note(channel=0, bank=0, program=0, key=key, velocity=velocity,
                   on=round(on_s * SR), off=round(off_s * SR), **kw)  # fmt: skip


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def above_hz(x: np.ndarray, hz: float) -> float:
    """Energy above `hz` in dB."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    return float(10 * np.log10(spec[np.fft.rfftfreq(len(x), 1 / SR) > hz].sum() + 1e-20))


LOOP = {54: 1, 53: 0}


@pytest.mark.parametrize(
    ("key", "gens", "hz"),
    [
        (69, {}, 440.0),  # the root key plays the sample as recorded
        (81, {}, 880.0),  # an octave up
        (57, {}, 220.0),
        (69, {51: 12}, 880.0),  # coarse tune +12 semitones
        (69, {52: -100}, 415.3),  # fine tune -100 cents
        (69, {58: 57}, 880.0),  # overriding root key 57
        (81, {56: 0}, 440.0),  # scale tuning 0: every key plays the root pitch
    ],
)
def test_pitch_follows_key_and_tuning(tmp_path, key, gens, hz):
    font = build_sf2([sine(440, 0.1)], [{**LOOP, **gens}])
    out = render(tmp_path, font, [note(key)])
    assert abs(peak_hz(out[SR // 4 : 3 * SR // 4, 0]) - hz) < 2.5


def test_sf3_vorbis_samples_play_at_their_pitch(tmp_path):
    font = build_sf2([sine(440, 0.2)], [LOOP], vorbis=True)
    out = render(tmp_path, font, [note(81)])
    assert abs(peak_hz(out[SR // 4 : 3 * SR // 4, 0]) - 880) < 2.5
    assert rms_db(out[SR // 4 : 3 * SR // 4]) > -15


def test_a_loop_sustains_and_an_unlooped_sample_stops(tmp_path):
    looped = render(tmp_path, build_sf2([sine(440, 0.05)], [LOOP]), [note(off_s=1.5)])
    once = render(tmp_path, build_sf2([sine(440, 0.05)], [{53: 0}]), [note(off_s=1.5)])
    assert abs(rms_db(looped[SR : SR + SR // 4]) - rms_db(looped[SR // 10 : SR // 5])) < 0.1
    assert np.abs(once[round(0.06 * SR) :]).max() == 0.0


@pytest.mark.parametrize(
    ("gens", "velocity", "expected_db"),
    [
        ({}, 64, 20 * math.log10(64 / 127)),  # velocity is a linear gain
        ({48: 60}, 127, -6.0),  # initial attenuation in centibels
        ({37: 200}, 127, -20.0),  # sustain 200 cB under the peak, after a short decay
        ({48: -100}, 127, 0.0),  # out of the specification's range: clamped, no gain
    ],
)
def test_levels(tmp_path, gens, velocity, expected_db):
    font = build_sf2([sine(440, 0.1)], [{**LOOP, 36: -3600}])
    quiet = build_sf2([sine(440, 0.1)], [{**LOOP, 36: -3600, **gens}])
    ref = render(tmp_path, font, [note()])[SR // 2 : 3 * SR // 4]
    out = render(tmp_path, quiet, [note(velocity=velocity)])[SR // 2 : 3 * SR // 4]
    assert abs(rms_db(out) - rms_db(ref) - expected_db) < 0.1


def test_release_falls_100_db_per_release_time(tmp_path):
    font = build_sf2([sine(440, 0.1)], [{**LOOP, 38: 0}])  # 0 timecents: 1 s
    out = render(tmp_path, font, [note(off_s=0.5)], seconds=2.0)[:, 0]
    held = rms_db(out[SR // 4 : SR // 2])
    at = rms_db(out[round(0.69 * SR) : round(0.71 * SR)])  # 0.2 s after the note-off
    assert abs(at - held + 20) < 1.0
    assert np.abs(out[round(1.51 * SR) :]).max() == 0.0  # gone at -100 dB


@pytest.mark.parametrize(("pan", "silent"), [(-500, 1), (500, 0)])
def test_pan_generator_puts_the_voice_on_one_side(tmp_path, pan, silent):
    out = render(tmp_path, build_sf2([sine(440, 0.1)], [{**LOOP, 17: pan}]), [note()])
    assert np.abs(out[:, silent]).max() < 1e-6
    assert rms_db(out[: SR // 2, 1 - silent]) > -12


def test_channel_pan_adds_to_the_region_pan(tmp_path):
    out = render(tmp_path, build_sf2([sine(440, 0.1)], [LOOP]), [note(pan=-0.25)])
    left, right = rms_db(out[: SR // 2, 0]), rms_db(out[: SR // 2, 1])
    assert abs((left - right) - 10 * math.log10(0.75 / 0.25)) < 0.05  # square-root law


def test_initial_filter_darkens(tmp_path):
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, SR // 2).astype(np.float32)
    open_ = render(tmp_path, build_sf2([noise], [LOOP]), [note()])[:, 0]
    shut = render(tmp_path, build_sf2([noise], [{**LOOP, 8: 6000}]), [note()])[:, 0]  # 262 Hz
    assert above_hz(open_[: SR // 2], 2000) - above_hz(shut[: SR // 2], 2000) > 30


def test_mod_envelope_opens_the_filter(tmp_path):
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, SR // 2).astype(np.float32)
    # cut-off 262 Hz, raised 4800 cents by a mod envelope that decays to 0 over ~1 s
    gens = {**LOOP, 8: 6000, 11: 4800, 28: 0, 29: 1000}
    out = render(tmp_path, build_sf2([noise], [gens]), [note(off_s=1.9)])[:, 0]
    assert (
        above_hz(out[: SR // 10], 1000) - above_hz(out[round(1.2 * SR) : round(1.3 * SR)], 1000)
        > 15
    )


@pytest.mark.parametrize(
    ("first_off_s", "release_tc"),
    [(1.5, 1200), (0.3, 1200), (0.45, -12000)],  # held; ringing out (2 s); already gone
)
def test_exclusive_class_chokes_the_earlier_note(tmp_path, first_off_s, release_tc):
    low, high = sine(220, 0.1), sine(1760, 0.1)
    zones = [
        {43: 60 | (60 << 8), 57: 1, 54: 1, 58: 57, 53: 0, 38: release_tc},  # key 60: 220 Hz
        {43: 62 | (62 << 8), 57: 1, 54: 1, 58: 62, 53: 1},  # key 62 plays 1760 Hz
    ]
    font = build_sf2([low, high], zones)
    notes = [note(60, off_s=first_off_s), note(62, on_s=0.5, off_s=1.5)]
    out = render(tmp_path, font, notes)[:, 0]
    before = out[round(0.40 * SR) : round(0.44 * SR)]
    assert rms_db(before) > -30  # the first note sounds until the second starts
    after = out[round(0.52 * SR) : round(1.0 * SR)]
    spec = np.abs(np.fft.rfft(after * np.hanning(len(after))))
    freqs = np.fft.rfftfreq(len(after), 1 / SR)
    assert spec[np.argmin(abs(freqs - 220))] < 1e-3 * spec[np.argmin(abs(freqs - 1760))]


def test_shipped_font_loads_once_and_has_melodic_and_drum_presets():
    font = sf.load_soundfont(default_soundfont())
    assert font is sf.load_soundfont(default_soundfont())
    assert font.regions(0, 0, 60, 100) and font.regions(128, 0, 36, 100)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"hello, not a font", "not a SoundFont (no RIFF sfbk header)"),
        (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont (no RIFF sfbk header)"),
        (b"RIFF\x10\x00\x00\x00sfbk" + _chunk(b"LIST", b"sdta"), "no smpl chunk"),
        (None, "not a file"),  # a directory
    ],
)
def test_bad_soundfonts_are_input_errors_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "bad.sf2"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        sf.load_soundfont(path)
    assert needle in str(info.value) and "bad.sf2" in str(info.value)


def test_a_missing_soundfont_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="SoundFont not found"):
        sf.load_soundfont(tmp_path / "nope.sf2")
