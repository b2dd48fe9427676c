"""The blocked programme mix against the in-memory one, on the same short programme."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoreflow.tasks.audio import blocks, mix, speech, spool
from scoreflow.tasks.timeline.model import Cue

SR = 48000


def _cue(i: int, n: int, *, tail: int = 24000, loud: float = 0.3) -> Cue:
    """A cue of decaying chords with sharp transients (so the limiter has work)."""
    rng = np.random.default_rng(i)
    t = np.arange(n + tail) / SR
    tone = sum(np.sin(2 * np.pi * f * t) for f in (110 * (i + 1), 277.0, 440.0 + 10 * i))
    hits = (np.mod(t, 0.5) < 0.01) * rng.standard_normal(t.size) * 3
    x = loud * (tone / 3 + hits) * (0.6 + 0.4 * np.cos(2 * np.pi * 0.3 * t))
    both = np.stack([x, np.roll(x, 37)]).astype(np.float32)
    return Cue(scene_id=f"s{i}", audio=both[:, :n], sample_rate=SR, backend="debug",
               model="debug", prompt="", seed=i, licence="test", tail=both[:, n:])  # fmt: skip


def _programme() -> tuple[list[mix.Placement], np.ndarray, list[tuple[int, int]]]:
    spans = [(0, 150_000), (150_000, 330_000), (340_000, 520_000), (520_000, 700_000)]
    kinds = ["crossfade", "crossfade", "cut", "fade"]
    placements = [
        mix.Placement(_cue(i, b - a), a, b, transition=k, level_db=2.0 * i - 3)
        for i, ((a, b), k) in enumerate(zip(spans, kinds, strict=True))
    ]
    t = np.arange(720_000) / SR
    voice = 0.1 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    voice *= (t % 5) < 3
    dialogue = np.stack([voice, voice]).astype(np.float32)
    return placements, dialogue, speech.speech_regions(dialogue, SR)


def _to_disk(path: Path, audio: np.ndarray) -> spool.DiskSignal:
    with spool.SignalWriter(path, audio.shape[0]) as w:
        w.write(audio)
        return w.close()


@pytest.mark.parametrize(
    ("gated", "with_dialogue", "block"),
    [(False, True, 40_000), (True, True, 65_536), (False, False, 100_000), (True, True, 1 << 20)],
)
def test_blocked_mix_equals_in_memory(tmp_path: Path, gated: bool, with_dialogue: bool, block: int):
    placements, dialogue, regions = _programme()
    assert regions, "the test programme must have dialogue"
    options = dict(sample_rate=SR, crossfade_s=0.5, declick_s=0.005, fade_in_s=0.1, fade_out_s=1.0)
    mixing = mix.Mixing(
        sample_rate=SR, regions=regions, target_lufs=-16.0, true_peak_dbtp=-1.0,
        dialogue_gated=gated, duck_db=10.0, attack_s=0.15, release_s=0.6, music_vs_dialogue_lu=-2.0,
        with_dialogue=with_dialogue,
    )  # fmt: skip
    n = dialogue.shape[-1]
    whole = mix.music_bus(placements, target_lufs=-16.0, total_samples=n, **options)
    expected = mix.mix_programme(whole, dialogue, mixing=mixing)

    spooled = [
        spool.spool(p.cue, tmp_path / "cues", lufs=mix.integrated_lufs(p.cue.audio, SR))
        for p in placements
    ]
    gains = [
        mix.level_gain(s.lufs, target_lufs=-16.0 + p.level_db)
        for s, p in zip(spooled, placements, strict=True)
    ]
    laid = mix.lay_out(
        [mix.Placement(s, p.start, p.end, p.transition, p.transition_s, p.level_db)
         for s, p in zip(spooled, placements, strict=True)],
        sample_rate=SR, crossfade_s=0.5, declick_s=0.005, gains=gains,
    )  # fmt: skip
    music = blocks.place_to_disk(laid, tmp_path / "music.f32", total_samples=n, sample_rate=SR,
                                 fade_in_s=0.1, fade_out_s=1.0, block=block)  # fmt: skip
    assert np.array_equal(music.read(0, n), whole)  # placing in blocks is exact
    got = blocks.mix_programme_blocked(
        music, _to_disk(tmp_path / "dialogue.f32", dialogue), mixing=mixing,
        work=tmp_path / "work", block=block,
    )  # fmt: skip
    parts = {k: np.concatenate(v, axis=-1) for k, v in _collect(got, n, block).items()}

    want = {"soundtrack": expected.soundtrack}
    if with_dialogue:
        want |= {"mix": expected.mix, "stem_music": expected.music,
                 "stem_dialogue": expected.dialogue}  # fmt: skip
    assert set(parts) == set(want)
    for name, audio in want.items():
        worst_db = 20 * np.log10(np.abs(parts[name] - audio).max() + 1e-20)
        assert worst_db < -90, (name, worst_db)
    for key in ("before_lufs", "after_lufs", "after_true_peak_dbtp"):
        assert got.report[key] == pytest.approx(expected.report[key], abs=0.1), key
    assert got.report["gate"] == expected.report["gate"]
    assert expected.report["after_true_peak_dbtp"] <= -1.0 + 0.05
    limited = sorted(p.name for p in (tmp_path / "work").rglob("gain-*.f32"))
    assert limited, "the test programme must make the limiter work"


def _collect(programme: blocks.StreamedProgramme, n: int, block: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for lo, hi in blocks.blocks(n, block):
        for name, audio in programme.parts(lo, hi).items():
            out.setdefault(name, []).append(audio)
    return out


def test_loudness_meter_in_blocks_equals_one_call():
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal((2, 300_001)) * 0.1).astype(np.float32)
    regions = [(1000, 90_000), (120_000, 299_000)]
    for r in (None, regions):
        meter = mix.LoudnessMeter(SR)
        for lo in range(0, audio.shape[-1], 7777):
            mix.feed_regions(meter, audio[:, lo : lo + 7777], lo, r)
        assert meter.lufs() == pytest.approx(mix.integrated_lufs(audio, SR, regions=r), abs=1e-6)
    assert mix.LoudnessMeter(SR).lufs() == float("-inf")


def test_true_peak_in_blocks(tmp_path: Path):
    t = np.arange(200_000) / SR
    audio = np.stack([0.5 * np.sin(2 * np.pi * 11_000 * t + 0.3)] * 2).astype(np.float32)
    audio[:, 150_000] = 0.9
    lufs, peak = blocks.measure(lambda a, b: audio[:, a:b], audio.shape[-1], SR, block=30_000)
    assert peak == pytest.approx(mix.true_peak_dbtp(audio), abs=1e-4)
    assert lufs == pytest.approx(mix.integrated_lufs(audio, SR), abs=1e-6)


def test_disk_signal_pads_and_trims(tmp_path: Path):
    audio = np.arange(20, dtype=np.float32).reshape(2, 10)
    sig = _to_disk(tmp_path / "x.f32", audio)
    longer = spool.DiskSignal(sig.path, 2, 14)
    assert np.array_equal(longer.read(-2, 14)[:, 2:12], audio)
    assert not longer.read(-2, 14)[:, :2].any() and not longer.read(-2, 14)[:, 12:].any()
    assert np.array_equal(spool.DiskSignal(sig.path, 2, 6).read(0, 8)[:, :6], audio[:, :6])


def test_sweep_removes_only_stale_spools(tmp_path: Path):
    import os
    import time

    old, new = tmp_path / "run-old", tmp_path / "run-new"
    for d in (old, new):
        (d / "cues").mkdir(parents=True)
    long_ago = time.time() - 2 * 86400
    os.utime(old, (long_ago, long_ago))
    assert spool.sweep(tmp_path) == [old]
    assert not old.exists() and new.exists()
    assert spool.sweep(tmp_path / "missing") == []
