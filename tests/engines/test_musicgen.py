"""The MusicGen backend, loaded through its real code path from a tiny random model saved
to a temporary folder (weights cannot be downloaded here), offline."""

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scoreflow import config  # noqa: E402
from scoreflow.tasks.engines import get_backend  # noqa: E402
from scoreflow.tasks.engines.base import prompt_text  # noqa: E402
from scoreflow.tasks.engines.batching import batches, split_on_oom  # noqa: E402
from scoreflow.tasks.engines.debug import random_musicgen, t5_tokenizer  # noqa: E402
from scoreflow.tasks.engines.musicgen import MusicGen  # noqa: E402
from scoreflow.tasks.errors import BackendError, InputError  # noqa: E402
from scoreflow.tasks.music.brief import make_brief  # noqa: E402
from scoreflow.tasks.timeline.model import Scene  # noqa: E402

SR = 48000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """musicgen-small's layout at toy size: EnCodec 32 kHz, 50 frames/s, 4 codebooks of 64."""
    from transformers import EncodecConfig, EncodecFeatureExtractor, MusicgenProcessor, T5Config

    tokenizer = t5_tokenizer()
    text = T5Config(
        vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2
    )
    audio = EncodecConfig(
        sampling_rate=32000,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=64,
        target_bandwidths=[1.2],
        hidden_size=16,
        num_filters=4,
        num_residual_layers=1,
        codebook_dim=16,
    )
    model = random_musicgen(text, audio, width=16, layers=1, heads=2, ffn=32)
    with torch.no_grad():  # codebooks start at zero: give codes distinct sounds
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    processor = MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(sampling_rate=32000, feature_size=1),
        tokenizer=tokenizer,
    )
    folder = tmp_path_factory.mktemp("musicgen-tiny")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def cfg(model, *, backend="musicgen", **musicgen):
    """Settings for the musicgen `backend`: those that differ from the defaults."""
    return config.load_settings(None, {
        "pipeline": {"backend": backend, "model": model, "sample_rate": SR},
        "musicgen": {"top_k": 50, **musicgen},
    })  # fmt: skip


def brief(text, seconds=4.0):
    return make_brief(Scene("m", 0, round(seconds * 25), Fraction(25), text))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_loads_offline_and_makes_exact_lengths(tiny_model):
    backend = get_backend(cfg(tiny_model))
    assert backend.name == "musicgen" and backend.sample_rate == SR
    assert "non-commercial" in backend.licence
    cues = backend.generate(
        [brief("tense cinematic"), brief("calm ambient")], seconds=[1.3, 0.77], seed=4
    )
    for cue, secs in zip(cues, (1.3, 0.77), strict=True):
        assert cue.audio.shape == (2, round(secs * SR)) and cue.audio.dtype == np.float32
        assert cue.tail.shape == (2, SR) and np.isfinite(cue.audio).all()
        assert float(np.abs(cue.audio).max()) <= 0.891
        assert cue.metrics["model_sample_rate"] == 32000 and cue.metrics["windows"] == 1
        assert "cinematic" in cues[0].prompt and cue.licence == backend.licence


def test_batching_matches_single_lengths_and_seeds_repeat(tiny_model):
    backend = get_backend(cfg(tiny_model, max_batch=4))
    briefs = [brief("rock anthem"), brief("calm ambient"), brief("tense")]
    secs = [0.5, 0.7, 0.6]
    together = backend.generate(briefs, seconds=secs, seed=7)
    alone = [
        backend.generate([b], seconds=[s], seed=7)[0] for b, s in zip(briefs, secs, strict=True)
    ]
    assert [c.samples for c in together] == [c.samples for c in alone]
    assert [c.metrics["batch"] for c in together] == [3, 3, 3]
    again = backend.generate(briefs, seconds=secs, seed=7)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(together, again, strict=True))
    other = backend.generate(briefs, seconds=secs, seed=8)
    assert not np.array_equal(together[0].audio, other[0].audio)


@pytest.mark.parametrize("static_cache", [False, True])
def test_continuation_beyond_the_window(tiny_model, static_cache):
    backend = get_backend(cfg(tiny_model, window_s=1.0, stride_s=0.5, static_cache=static_cache))
    cue = backend.generate([brief("rock")], seconds=[2.3], seed=1)[0]
    assert cue.samples == round(2.3 * SR)
    assert cue.metrics["windows"] == 1 + 5  # 1.0 s, then 0.5 s steps up to 3.3 s (tail)
    assert np.sqrt(np.mean(cue.audio[:, -SR // 2 :] ** 2)) > 0  # the continuation has sound


def test_prompt_text():
    b = brief("tense night chase, builds, no drums, strings")
    text = prompt_text(b)
    assert text.startswith("tense cinematic music") and "strings" in text
    assert "no drums" in text and "building" in text and f"{b.key} {b.mode}" in text
    assert prompt_text(b, raw=True) == "tense night chase, builds, no drums, strings"


def test_batches_group_by_length():
    assert batches([5.0, 30.0, 6.0, 7.0, 29.0], max_batch=2) == [[0, 2], [3], [4, 1]]


def test_out_of_memory_batches_are_split_not_lost():
    done = []

    def run(items):
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        done.append(items)
        return [i * 10 for i in items]

    assert split_on_oom(run, [1, 2, 3, 4, 5]) == [10, 20, 30, 40, 50]
    assert done == [[1, 2], [3], [4, 5]]

    def never(items):
        raise RuntimeError("CUDA error: out of memory")

    with pytest.raises(BackendError, match="single cue"):
        split_on_oom(never, [1])


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        ("/nonexistent/musicgen", {}, "model not found locally"),
        ("facebook/musicgen-nonexistent", {}, "hf download"),
        ("TINY", {"device": "cuda"}, "no cuda device"),
        ("TINY", {"dtype": "fp16", "device": "cpu"}, "fp16 is not supported on the CPU"),
        ("TINY", {"stride_s": 40.0}, "stride_s < window_s"),
        ("TINY", {"top_p": 0.0}, "sampling settings out of range"),
    ],
)
def test_errors_say_what_to_do(tiny_model, model, settings, message):
    if settings.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InputError, match=message):
        MusicGen.from_config(cfg(tiny_model if model == "TINY" else model, **settings))


def test_cli_warns_about_non_commercial_weights(tiny_model, check_cli):
    code, err = check_cli("musicgen", tiny_model)
    assert code == 0 and "warning: MusicGen weights: CC-BY-NC 4.0" in err


def test_audiocraft_backend_says_how_to_install(tiny_model, tmp_path):
    try:
        import audiocraft  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("audiocraft is installed here")
    with pytest.raises(InputError, match="audiocraft is not importable") as err:
        get_backend(cfg("", backend="audiocraft"))
    assert "pins torch 2.1" in str(err.value) and "--backend musicgen" in str(err.value)


def test_audiocraft_debug_model_where_installed():
    pytest.importorskip("audiocraft")
    cues = get_backend(cfg("debug", backend="audiocraft")).generate(
        [brief("rock"), brief("calm")], seconds=[0.6, 0.4], seed=1
    )
    assert [c.samples for c in cues] == [round(0.6 * SR), round(0.4 * SR)]


def test_concurrent_cue_requests_share_one_call(tiny_model):
    import threading

    from scoreflow.tasks.engines.batching import BatchQueue

    queue = BatchQueue(get_backend(cfg(tiny_model)), quiet_s=5.0)
    queue.expect(4)
    cues = {}

    def ask(i):
        cues[i] = queue.generate(brief(f"cue {i}"), seconds=0.5, seed=10 + i)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(cues) == [0, 1, 2, 3]
    assert {c.metrics["cues_in_call"] for c in cues.values()} == {4}  # well before 5 s quiet
    assert all(c.samples == SR // 2 for c in cues.values())


def test_score_video_with_musicgen(prefect_server, tiny_model, video_25, tmp_path):
    from scoreflow.flows.score import score_video

    shots = tmp_path / "shots.csv"
    shots.write_text(
        "scene,tc_in,tc_out,description,music\n1,0,4,tense rock,\n2,4,7,calm pad,\n"
        "3,7,9,interview,off\n4,9,12,jazz,\n"
    )
    out = tmp_path / "out"
    manifest = score_video(
        video=str(video_25), shots=str(shots), out=str(out), backend="musicgen", model=tiny_model
    )
    cues = [s["cue"] for s in manifest["scenes"] if s.get("cue")]
    assert len(cues) == 3 and {c["metrics"]["cues_in_call"] for c in cues} == {3}
    assert all("CC-BY-NC" in c["licence"] for c in cues)
    assert "CC-BY-NC" in (out / "cuesheet.csv").read_text()
