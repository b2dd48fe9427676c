"""The ACE-Step backend, loaded through diffusers' real loading path from a tiny random
pipeline saved to a temporary folder with its model card (weights cannot be downloaded
here), offline: lengths, conditioning, the licence read from the card, continuation
windows, repainting a region, and the composer guide's audio reaching the model."""

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scoreflow import config  # noqa: E402
from scoreflow.flows import cli  # noqa: E402
from scoreflow.tasks.engines import get_backend  # noqa: E402
from scoreflow.tasks.engines.ace_step import keyscale  # noqa: E402
from scoreflow.tasks.engines.composer import Composer  # noqa: E402
from scoreflow.tasks.engines.debug import save_tiny_ace_step  # noqa: E402
from scoreflow.tasks.errors import InputError  # noqa: E402
from scoreflow.tasks.music.brief import make_brief  # noqa: E402
from scoreflow.tasks.timeline.model import Scene  # noqa: E402

SR = 48000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_ace_step(str(tmp_path_factory.mktemp("ace-step-tiny")), licence="mit")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def cfg(model, **settings):
    """Settings for the ace-step backend: those that differ from the defaults."""
    return config.load_settings(None, {
        "pipeline": {"backend": "ace-step", "model": model, "sample_rate": SR},
        "ace-step": {"device": "cpu", "steps": 2, **settings},
    })  # fmt: skip


def brief(text, seconds=3.0, scene="s"):
    return make_brief(Scene(scene, 0, round(seconds * 25), Fraction(25), text))


def text_seen(engine):
    """Decode what reaches the text encoder on the next calls (a forward pre-hook on the
    real module: nothing replaced)."""
    seen: list[str] = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen.extend(engine._pipe.tokenizer.batch_decode(ids, skip_special_tokens=True))

    engine._pipe.text_encoder.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_text_to_music_lengths_conditioning_and_licence(tiny):
    engine = get_backend(cfg(tiny))
    assert engine.commercial_use and "mit (from the model card)" in engine.licence
    engine.load()
    seen = text_seen(engine)
    briefs = [
        brief("calm ambient pad 90 bpm in C", 2.3, "a"),
        brief("rock anthem 120 bpm", 3.1, "b"),
    ]
    cues = engine.generate(briefs, seconds=[2.3, 3.1], seed=4)
    for cue, secs in zip(cues, (2.3, 3.1), strict=True):
        assert cue.audio.shape == (2, round(secs * SR)) and cue.audio.dtype == np.float32
        assert np.abs(cue.audio).max() <= 0.8913 and np.abs(cue.audio).max() > 0
        assert cue.licence == engine.licence and cue.backend == "ace-step"
    assert any("90" in t for t in seen) and any("120" in t for t in seen)
    assert keyscale(briefs[0]) == "C major"
    again = engine.generate(briefs[:1], seconds=[2.3], seed=4)[0]
    assert np.array_equal(again.audio, cues[0].audio)  # a cue depends on its own seed only


def test_licence_from_the_card_and_missing_model(tmp_path, capsys):
    nc = save_tiny_ace_step(str(tmp_path / "nc"), licence="cc-by-nc-4.0")
    engine = get_backend(cfg(nc))
    assert not engine.commercial_use and "cc-by-nc-4.0" in engine.licence
    cli.warn_about(engine)
    assert "not for commercial use" in capsys.readouterr().err
    with pytest.raises(InputError, match="hf download"):
        get_backend(cfg(str(tmp_path / "nowhere")))
    with pytest.raises(InputError, match="unknown guide"):
        get_backend(cfg(nc, guide="orchestra"))


def test_long_cue_continues_by_repainting_windows(tiny):
    engine = get_backend(cfg(tiny, window_s=2.0, overlap_s=0.5))
    cue = engine.generate([brief("tense cinematic strings", 4.2)], seconds=[4.2], seed=1)[0]
    assert cue.audio.shape == (2, round(4.2 * SR)) and cue.metrics["windows"] >= 3


def test_repaint_changes_only_the_region(tiny):
    engine = get_backend(cfg(tiny))
    cue = engine.generate([brief("rock anthem drums", 3.0)], seconds=[3.0], seed=2)[0]
    new = engine.repaint(cue, start_s=1.0, end_s=2.0, seed=9)
    assert new.audio.shape == cue.audio.shape and new.tail.shape == cue.tail.shape
    assert np.array_equal(new.audio[:, :SR], cue.audio[:, :SR])
    assert np.array_equal(new.audio[:, 2 * SR :], cue.audio[:, 2 * SR :])
    inner = slice(round(1.1 * SR), round(1.9 * SR))
    assert not np.allclose(new.audio[:, inner], cue.audio[:, inner])
    assert new.metrics["repainted"] == [[1.0, 2.0]]
    with pytest.raises(InputError, match="outside the cue"):
        engine.repaint(cue, start_s=2.5, end_s=9.0, seed=1)


def test_composer_guide_reaches_the_model_and_keeps_the_plan(tiny):
    engine = get_backend(cfg(tiny, guide="composer"))
    engine.load()
    heard: list[np.ndarray] = []
    engine._pipe.vae.encoder.register_forward_pre_hook(
        lambda module, args: heard.append(args[0].detach().numpy().copy())
    )
    b = brief("rock anthem, hit at 1.5 s", 3.0)
    cue = engine.generate([b], seconds=[3.0], seed=6)[0]
    guide = Composer(sample_rate=SR).generate([b], seconds=[3.0], seed=6)[0]
    src = np.concatenate([guide.audio, guide.tail], axis=-1)
    assert len(heard) == 1 and heard[0].shape == (1, *src.shape)
    assert np.allclose(heard[0][0], src, atol=1e-6)  # the composer's rendering, as made
    assert cue.audio.shape == guide.audio.shape and cue.tail.shape == guide.tail.shape
    assert cue.midi == guide.midi and cue.metrics["downbeats_s"] == guide.metrics["downbeats_s"]
    assert cue.metrics["guide"] == "composer" and "guide_beats_error_ms" in cue.metrics
    assert "arrangement: scoreflow composer" in cue.licence
