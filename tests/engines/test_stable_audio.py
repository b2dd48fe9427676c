"""The Stable Audio backend, loaded through diffusers' real loading path from a tiny random
pipeline saved to a temporary folder (weights cannot be downloaded here), offline."""

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scoreflow import config  # noqa: E402
from scoreflow.tasks.engines import get_backend  # noqa: E402
from scoreflow.tasks.engines.debug import t5_tokenizer  # noqa: E402
from scoreflow.tasks.engines.stable_audio import crossfade_join  # noqa: E402
from scoreflow.tasks.errors import InputError  # noqa: E402
from scoreflow.tasks.music.brief import make_brief  # noqa: E402
from scoreflow.tasks.timeline.model import Scene  # noqa: E402

SR = 48000


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    """Stable Audio Open's layout at toy size: Oobleck VAE at 44.1 kHz with a 2048 hop,
    a one-layer DiT over 96 latent frames (a 4.5 s window), a one-layer T5 encoder."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = t5_tokenizer(model_max_length=32)
    torch.manual_seed(0)
    pipe = StableAudioPipeline(
        transformer=StableAudioDiTModel(
            sample_size=96,
            in_channels=4,
            num_layers=1,
            attention_head_dim=4,
            num_attention_heads=2,
            num_key_value_attention_heads=1,
            out_channels=4,
            cross_attention_dim=4,
            time_proj_dim=8,
            global_states_input_dim=8,
            cross_attention_input_dim=4,
        ),
        scheduler=CosineDPMSolverMultistepScheduler(
            solver_order=2,
            prediction_type="v_prediction",
            sigma_data=1.0,
            sigma_schedule="exponential",
        ),
        vae=AutoencoderOobleck(
            encoder_hidden_size=4,
            downsampling_ratios=[2, 4, 4, 8, 8],
            decoder_channels=4,
            decoder_input_channels=4,
            audio_channels=2,
            channel_multiples=[1, 1, 1, 1, 1],
            sampling_rate=44100,
        ),
        text_encoder=T5EncoderModel(
            T5Config(
                vocab_size=len(tokenizer), d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2
            )
        ),
        tokenizer=tokenizer,
        projection_model=StableAudioProjectionModel(
            text_encoder_dim=8, conditioning_dim=4, min_value=0, max_value=512
        ),
    )
    folder = tmp_path_factory.mktemp("stable-audio-tiny")
    pipe.save_pretrained(folder)
    return str(folder)


def cfg(model, **settings):
    """Settings for the stable-audio backend: those that differ from the defaults."""
    s = {"device": "cpu", "steps": 3, "negative_prompt": "low quality", "overlap_s": 0.5}
    s.update(settings)
    return config.load_settings(None, {
        "pipeline": {"backend": "stable-audio", "model": model, "sample_rate": SR},
        "stable-audio": s,
    })  # fmt: skip


def brief(text):
    return make_brief(Scene("s", 0, 100, Fraction(25), text))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_exact_stereo_lengths_batched_and_seeded(tiny_pipeline):
    backend = get_backend(cfg(tiny_pipeline))
    assert backend.name == "stable-audio" and "Community License" in backend.licence
    briefs, secs = [brief("tense"), brief("calm ambient"), brief("rock")], [1.2, 0.9, 1.1]
    cues = backend.generate(briefs, seconds=secs, seed=3)
    assert [c.audio.shape for c in cues] == [(2, round(s * SR)) for s in secs]
    assert all(c.metrics["model_sample_rate"] == 44100 for c in cues)
    assert [c.metrics["batch"] for c in cues] == [3, 3, 3]
    alone = backend.generate([briefs[1]], seconds=[secs[1]], seed=3)[0]
    assert alone.samples == cues[1].samples
    again = backend.generate(briefs, seconds=secs, seed=3)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(cues, again, strict=True))
    other = backend.generate(briefs, seconds=secs, seed=4)
    assert not np.array_equal(cues[0].audio, other[0].audio)
    assert float(np.abs(cues[0].audio).max()) <= 0.891 and np.isfinite(cues[0].audio).all()


def test_cues_past_the_window_are_joined(tiny_pipeline):
    backend = get_backend(cfg(tiny_pipeline, window_s=1.5, overlap_s=0.5))
    cue = backend.generate([brief("rock")], seconds=[3.2], seed=1)[0]
    assert cue.samples == round(3.2 * SR)
    assert cue.metrics["windows"] == 4  # 4.2 s with the tail: 1.5 + 3 x 1.0


def test_crossfade_join_keeps_level():
    ones = np.ones((2, 100), np.float32)
    joined = crossfade_join([ones, ones, ones], 20)
    assert joined.shape == (2, 260)
    # equal power: uncorrelated parts keep their level; identical ones peak at sqrt(2)
    assert 1.0 <= joined.max() <= np.sqrt(2) + 1e-6


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        ("/nonexistent/stable-audio", {}, "Stable Audio model not found locally"),
        ("TINY", {"overlap_s": 30.0}, "overlap_s < window_s / 2"),
        ("TINY", {"device": "cpu", "dtype": "fp16"}, "fp16 is not supported on the CPU"),
    ],
)
def test_errors(tiny_pipeline, model, settings, message):
    with pytest.raises(InputError, match=message):
        get_backend(cfg(tiny_pipeline if model == "TINY" else model, **settings))


def test_cli_warns_about_the_licence(tiny_pipeline, check_cli):
    code, err = check_cli("stable-audio", tiny_pipeline)
    assert code == 0 and "warning: Stable Audio Open weights" in err
