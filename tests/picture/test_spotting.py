"""Spotting a generated programme: shots grouped into scenes as a music editor would (A B A
B is one scene, a change of look and sound starts a new one), energy (fast cutting and
motion over a static shot; a rising curve), and hit points (a flash, a hard cut after a long
static shot; none inside dialogue)."""

from __future__ import annotations

import numpy as np
import pytest

from scoreflow import config
from scoreflow.tasks.picture import reading as picture
from scoreflow.tasks.picture import spotting as sp
from scoreflow.tasks.picture import synth_video as sv
from scoreflow.tasks.picture.frames import Sound

S = sv.Shot
PINK, BROWN = "anoisesrc=a=0.05:c=pink", "anoisesrc=a=0.2:c=brown"
RISING = "geq=lum='128+100*sin(X/5+3*T*T)':cb=128:cr=128"  # a grating speeding up
FAST = ["cellauto", "rgbtestsrc", "life", "testsrc", "cellauto", "rgbtestsrc", "life", "testsrc"]


def programme(sound: bool) -> list[sv.Shot]:
    def s(source, frames, into="cut", into_frames=0, snd="", **kw):
        return S(source, frames, into, into_frames, snd if sound else "", **kw)

    return [
        s("mandelbrot", 250, snd="sine=f=220"),  # 1: calm, 10 s
        s("testsrc2", 75, snd="voice"), s("smptebars", 75, snd="voice", flash=(30,)),
        s("testsrc2", 75, snd="voice"), s("smptebars", 75, snd="voice"),  # 2: A B A B talk
        s("color=c=0x404040", 150, "fade", 20, snd=PINK),  # 3: a long static shot ...
        s("testsrc", 100, snd=PINK, flash=(70,)),  # ... a hard cut, a flash ...
        *(s(x, 20, snd=PINK) for x in FAST),  # ... fast cutting
        s("color=c=gray", 250, snd=BROWN, filters=RISING),  # 4: motion rising over 10 s
    ]  # fmt: skip


SETTINGS = config.load_settings(None, {"picture": {"hits_per_minute": 12.0}}).picture
MAPPING = config.styles()["picture"]


@pytest.fixture(scope="module", params=[True, False], ids=["with sound", "silent"])
def read(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("spot") / "programme.mp4"
    truth = sv.generate_cut_video(path, programme(request.param), size=(192, 108))
    return request.param, truth, picture.read_picture(path, settings=SETTINGS, mapping=MAPPING)


def test_shots_group_into_scenes_as_a_music_editor_would(read):
    sound, truth, r = read
    assert [t.frame for t in r.transitions] == [t.frame for t in truth]
    starts = [s.start for s in r.spots]
    if sound:
        # the calm open, the talk (A B A B), the static shot and fast cutting, the rise
        assert starts == [0, 250, 550, truth[-1].frame]
        assert r.spots[1].shots == [1, 2, 3, 4]
        assert any("new sound" in w for w in r.spots[2].why)
    else:  # nothing to hear: the look alone, and A B A B still holds together
        assert starts[:2] == [0, 250]
        assert r.spots[1].shots[:4] == [1, 2, 3, 4]
        assert any("shot/reverse shot" in w for w in r.spots[1].why)
    assert all(s.end - s.start >= SETTINGS.min_cue_s * 25 for s in r.spots)


def test_fast_cutting_and_motion_read_as_more_intense_than_a_static_shot(read):
    _, truth, r = read
    rate = float(r.source.rate)
    fast_from = truth[6].frame  # the first of the fast cuts
    static = sp.Spot(truth[4].frame + 10, truth[5].frame, [5])
    fast = sp.Spot(fast_from, truth[-1].frame, list(range(7, 15)))
    for spot in (static, fast):
        sp.read_energy(spot, r.features, r.sound, r.transitions, rate=rate, mapping=MAPPING)
    print("static", static.intensity, static.figures, "\nfast", fast.intensity, fast.figures)
    assert fast.figures["cuts_per_min"] > 40 and static.figures["cuts_per_min"] == 0
    assert fast.figures["motion"] > 4 * static.figures["motion"]
    assert fast.intensity >= static.intensity + 0.25


def test_the_curve_follows_rising_motion(read):
    _, truth, r = read
    rate = float(r.source.rate)
    rising = sp.Spot(truth[-1].frame, r.source.frames, [len(truth)])
    calm = sp.Spot(0, truth[0].frame, [0])
    for spot in (rising, calm):
        sp.read_energy(spot, r.features, r.sound, r.transitions, rate=rate, mapping=MAPPING)
    assert rising.curve == "rises", rising.figures
    assert "builds" in rising.description
    assert calm.curve == "steady" and calm.intensity < rising.intensity


def test_hits_a_flash_and_a_cut_after_a_long_static_shot_never_in_dialogue(read):
    sound, truth, r = read
    hits = [h for s in r.spots for h in s.hits]
    cut_after_static, flash = truth[5].frame, truth[5].frame + 70
    assert flash in hits, [s.hit_why for s in r.spots]
    if sound:  # the sound carries the scene across the cut, so the cut is inside it
        assert cut_after_static in hits, [s.hit_why for s in r.spots]
    talk_flash = truth[1].frame + 30
    if sound:
        assert r.sound is not None and r.sound.speech, "the voice is dialogue"
        assert talk_flash not in hits  # inside the dialogue
        assert not any(r.sound.in_speech(h / 25.0) for h in hits)
    else:
        assert talk_flash in hits  # the same flash, with no dialogue to keep out of
    for spot in r.spots:
        assert len(spot.hits) <= max(1, int(12.0 * (spot.end - spot.start) / 25 / 60))
        assert all(b - a >= 2.0 * 25 for a, b in zip(spot.hits, spot.hits[1:], strict=False))


def test_the_scenes_become_shot_list_scenes_with_their_words(read):
    _, _, r = read
    info = r.source.media_info()
    scenes = picture.scenes_for(r, info, start_tc="01:00:00:00")
    assert [s.id for s in scenes] == [str(k) for k in range(1, len(r.spots) + 1)]
    assert scenes[0].tc_in == "01:00:00:00" and scenes[-1].end_frame == r.source.frames
    for scene, spot in zip(scenes, r.spots, strict=True):
        assert (scene.start_frame, scene.end_frame) == (spot.start, spot.end)
        assert scene.intensity == spot.intensity and scene.curve == spot.curve
        assert spot.mood in scene.description and scene.mood == spot.mood


def test_talk_lowers_the_intensity_the_picture_reads(read):
    """The same span, the same picture and levels: with dialogue all through it, the music
    is asked to sit lower (``dialogue_drop``)."""
    _, truth, r = read
    rate = float(r.source.rate)
    hops = int(r.source.duration_s / 0.1) + 1
    level, bands = np.full(hops, -30.0, np.float32), np.full((hops, 24), -40.0, np.float32)
    quiet = Sound(level, bands, speech=[])
    talk = Sound(level, bands, speech=[(0.0, r.source.duration_s)])
    spans = [sp.Spot(truth[6].frame, truth[-1].frame, [7]) for _ in range(2)]
    for spot, sound in zip(spans, (quiet, talk), strict=True):
        sp.read_energy(spot, r.features, sound, r.transitions, rate=rate, mapping=MAPPING)
    without, with_talk = spans
    assert with_talk.figures["dialogue"] == 1.0 and without.figures["dialogue"] == 0.0
    drop = 1.0 - float(MAPPING["dialogue_drop"])
    assert with_talk.intensity == pytest.approx(without.intensity * drop, abs=0.01)
