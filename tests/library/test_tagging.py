"""`tasks.library.tagging`: Broadcast Wave bext/iXML chunks and ID3v2.4 tags, written here
and read back by other code (wavinfo for the WAV chunks, mutagen for ID3)."""

from __future__ import annotations

import calendar
import struct
import time

import numpy as np
import pytest
import soundfile
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from wavinfo import WavInfoReader

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.library import tagging

SR = 48000


def tone(seconds: float = 0.5, *, hz: float = 440.0, db: float = -12.0) -> np.ndarray:
    """A stereo sine, shape (2, samples)."""
    t = np.arange(round(seconds * SR)) / SR
    mono = 10 ** (db / 20) * np.sin(2 * np.pi * hz * t)
    return np.stack([mono, mono]).astype(np.float32)


def bwf(path, *, loudness=None, description="desc", ixml=None, when=None):
    """A Broadcast Wave file of `tone()` with the given chunk contents; its path."""
    bext = tagging.bext_chunk(
        description=description,
        originator="scoreflow",
        reference="ref-1",
        loudness=loudness or {},
        when=when,
    )
    tagging.write_bwf(path, tone(), SR, bext=bext, ixml=tagging.ixml_chunk(ixml or {}))
    return path


def chunk_ids(path) -> list[bytes]:
    """The RIFF chunk ids of a WAV file in order, walked here by the RIFF layout."""
    data, pos, ids = path.read_bytes(), 12, []
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        ids.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return ids


# loudness given -> what a reader finds in LUFS / LU / dBTP (hundredths; 0x7FFF is unknown)
UNKNOWN = 0x7FFF / 100
LOUDNESS = [
    (
        {
            "integrated_lufs": -16.0,
            "lra_lu": 5.25,
            "true_peak_dbtp": -1.04,
            "max_momentary_lufs": -10.5,
            "max_short_term_lufs": -12.0,
        },
        (-16.0, 5.25, -1.04, -10.5, -12.0),
    ),
    ({"integrated_lufs": -23.456}, (-23.46, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)),
    ({"integrated_lufs": float("nan"), "true_peak_dbtp": float("-inf")}, (UNKNOWN,) * 5),
    ({"integrated_lufs": 400.0, "lra_lu": -400.0}, (327.67, -327.68, UNKNOWN, UNKNOWN, UNKNOWN)),
    ({}, (UNKNOWN,) * 5),
]


@pytest.mark.parametrize(("loudness", "expected"), LOUDNESS)
def test_bext_loudness_is_read_back_by_wavinfo(tmp_path, loudness, expected):
    info = WavInfoReader(str(bwf(tmp_path / "a.wav", loudness=loudness)))
    b = info.bext
    assert b.version == 2
    got = (
        b.loudness_value,
        b.loudness_range,
        b.max_true_peak,
        b.max_momentary_loudness,
        b.max_shortterm_loudness,
    )
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Warm Light (main): ambient, calm", "Warm Light (main): ambient, calm"),
        ("x" * 300, "x" * 256),  # the field is 256 bytes
        ("Café ☕", "Caf? ?"),  # the field is ASCII
        ("", ""),
    ],
)
def test_bext_text_fields(tmp_path, description, expected):
    when = calendar.timegm((2024, 2, 29, 23, 59, 58, 0, 0, 0))
    b = WavInfoReader(str(bwf(tmp_path / "a.wav", description=description, when=when))).bext
    assert b.description == expected
    assert (b.originator, b.originator_ref) == ("scoreflow", "ref-1")
    assert (b.originator_date, b.originator_time) == ("2024-02-29", "23-59-58")
    assert b.coding_history == "A=PCM,F=48000,W=24,M=stereo,T=scoreflow\r\n"


def test_bwf_audio_and_chunk_order(tmp_path):
    path = bwf(tmp_path / "a.wav")
    assert chunk_ids(path) == [b"bext", b"fmt ", b"iXML", b"data"]
    audio, sr = soundfile.read(path, dtype="float32", always_2d=True)
    info = soundfile.info(path)
    assert (sr, info.subtype, info.channels) == (SR, "PCM_24", 2)
    assert np.abs(audio.T - tone()).max() < 2.0**-22  # 24-bit quantisation only


@pytest.mark.parametrize(
    ("fields", "scene", "take", "user"),
    [
        (
            {"project": "Lib", "track": "t001", "version": "30s", "note": "n", "bpm": 96.5},
            "t001",
            "30s",
            ["BPM=96.5"],
        ),
        (
            {"track": "a&b", "mood": "<tense>", "keywords": "dark, low"},
            "a&b",
            None,
            ["MOOD=<tense>", "KEYWORDS=dark, low"],
        ),
        ({}, None, None, []),
    ],
)
def test_ixml_is_read_back_by_wavinfo(tmp_path, fields, scene, take, user):
    ixml = WavInfoReader(str(bwf(tmp_path / "a.wav", ixml=fields))).ixml
    assert ixml.scene == scene and ixml.take == take
    assert ixml.project == (fields.get("project") or None)
    text = ixml.raw_xml.find("USER").text or ""
    assert text.splitlines() == user


def test_set_bext_loudness_rewrites_only_the_loudness(tmp_path):
    path = bwf(tmp_path / "a.wav", loudness={"integrated_lufs": -30.0})
    before = path.read_bytes()
    tagging.set_bext_loudness(path, {"integrated_lufs": -14.5, "true_peak_dbtp": -1.0})
    after = path.read_bytes()
    b = WavInfoReader(str(path)).bext
    assert (b.loudness_value, b.max_true_peak, b.loudness_range) == (-14.5, -1.0, UNKNOWN)
    changed = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    assert len(after) == len(before) and changed
    start = 8 + 12 + 256 + 32 + 32 + 10 + 8 + 8 + 2 + 64  # RIFF head, bext head, fields
    assert start <= min(changed) and max(changed) < start + 10


def plain_wav(path):
    soundfile.write(path, np.zeros((100, 2)), SR)


def not_a_wav(path):
    path.write_bytes(b"not a wave file at all, just some bytes")


@pytest.mark.parametrize("make", [plain_wav, not_a_wav])
def test_set_bext_loudness_refuses_a_file_without_bext_first(tmp_path, make):
    path = tmp_path / "plain.wav"
    make(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="no bext chunk first"):
        tagging.set_bext_loudness(path, {"integrated_lufs": -14.0})
    assert path.read_bytes() == before


FRAMES = {
    "TIT2": "Warm Light (30s)",
    "TPE1": "Test Composer",
    "TALB": "Test Library",
    "TCON": "ambient",
    "TBPM": "96",
    "TKEY": "F#m",
    "TMOO": "calm",
}


@pytest.mark.parametrize(
    ("frames", "comment"),
    [
        (FRAMES, "mood: calm; keywords: warm, low"),
        ({"TIT2": "Ünïcødé — 音楽", "TCON": ""}, ""),  # empty frames are left out
        ({}, "only a comment"),
    ],
)
def test_id3_tag_is_read_back_by_mutagen(tmp_path, frames, comment):
    path = tmp_path / "tag.mp3"
    path.write_bytes(tagging.id3v2_tag(frames, comment=comment))
    tag = ID3(path)
    assert tag.version == (2, 4, 0)
    assert {k: str(tag[k]) for k in tag if not k.startswith("COMM")} == {
        k: v for k, v in frames.items() if v
    }
    comments = tag.getall("COMM")
    assert [(c.lang, c.text[0]) for c in comments] == ([("eng", comment)] if comment else [])


@pytest.mark.parametrize("kbps", [96, 192, 320])
def test_encode_mp3_puts_the_tag_in_front_of_a_cbr_stream(tmp_path, kbps):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, tone(2.0).T, SR, subtype="PCM_24")
    mp3 = tmp_path / "a.mp3"
    tag = tagging.id3v2_tag(FRAMES, comment="c")
    tagging.encode_mp3(wav, mp3, kbps=kbps, tag=tag)
    assert mp3.read_bytes().startswith(tag)
    audio = MP3(mp3)
    assert audio.info.bitrate == kbps * 1000 and audio.info.sample_rate == SR
    assert abs(audio.info.length - 2.0) < 0.1
    assert str(audio.tags["TIT2"]) == FRAMES["TIT2"]


def test_encode_mp3_lowers_the_level_by_gain_db(tmp_path):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, tone(2.0, db=-6.0).T, SR, subtype="PCM_24")
    peaks = {}
    for gain in (0.0, -6.0):
        mp3 = tmp_path / f"g{gain}.mp3"
        tagging.encode_mp3(wav, mp3, kbps=192, tag=tagging.id3v2_tag({}), gain_db=gain)
        decoded, _ = soundfile.read(mp3, dtype="float32")
        peaks[gain] = float(np.sqrt(np.mean(decoded[SR // 2 : SR] ** 2)))
    assert 20 * np.log10(peaks[-6.0] / peaks[0.0]) == pytest.approx(-6.0, abs=0.1)


@pytest.mark.parametrize("kbps", [0, 31, 321, 1000])
def test_encode_mp3_refuses_a_bitrate_out_of_range(tmp_path, kbps):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, tone().T, SR)
    with pytest.raises(InputError, match="MP3 bitrate out of range"):
        tagging.encode_mp3(wav, tmp_path / "a.mp3", kbps=kbps, tag=b"")
    assert not (tmp_path / "a.mp3").exists()


def test_bext_time_defaults_to_now():
    before = time.gmtime()
    body = tagging.bext_chunk(description="", originator="", reference="", loudness={})
    date = body[320:330].decode()
    assert date in {time.strftime("%Y-%m-%d", before), time.strftime("%Y-%m-%d", time.gmtime())}
