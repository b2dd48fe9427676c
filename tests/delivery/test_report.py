"""report.html: drawn from a manifest, then a real run's page opened in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scoreflow.tasks.delivery.report import timeline_svg


def manifest():
    scene = {"tc_in": "", "tc_out": "", "description": "x", "transition_s": None}
    return {
        "inputs": {"video": {"probe": {"duration_s": 10.0}}},
        "settings": {"pipeline": {"sample_rate": 48000}},
        "programme": {"rate": "25", "start_frame": 90000, "drop_frame": False},
        "loudness": {"target_lufs": -23.0},
        "dialogue": {"regions_s": [[1.0, 3.0], [5.0, 6.5]]},
        "qc": {"short_term": [(t / 10, -30.0 + t / 10) for t in range(100)]},
        "scenes": [
            {**scene, "id": "a", "samples": [0, 144000], "music": True, "transition": None,
             "brief": {"genre": "rock", "mood": "tense", "hits_s": [1.5]},
             "cue": {"bpm": 120, "key": "E"}},
            {**scene, "id": "b", "samples": [144000, 288000], "music": True,
             "transition": None, "transition_s": 1.0,
             "brief": {"genre": "jazz", "mood": "calm"},
             "cue": {"bpm": 90, "key": "F", "crossfade_in_s": 1.0}},
            {**scene, "id": "c", "samples": [288000, 480000], "music": True,
             "transition": "fade", "brief": {"genre": "folk", "mood": "warm"},
             "cue": {"bpm": 80, "key": "G"}},
        ],
    }  # fmt: skip


def test_timeline_has_every_lane_numbered_cues_crossfades_hits_and_a_legend():
    svg = timeline_svg(manifest())
    assert svg.count("#b9e0b0") == 2 and svg.count('fill="#f6d8a8"') == 3
    assert "<polyline" in svg and ">fade<" in svg and "01:00:00:00" in svg
    assert ">01 rock<" in svg and ">02 jazz<" in svg and ">03 folk<" in svg
    (xf,) = re.findall(r"<title>crossfade ([\d.]+) s</title>", svg)  # b's 1 s; c fades
    assert xf == "1.00"
    assert "hit point 1.50 s" in svg
    assert ">LUFS<" in svg and "short-term loudness (3 s, ffmpeg)" in svg
    assert "target -23 LUFS" in svg
    assert 'class="timeline"' in svg and "viewBox=" in svg and "width=" not in svg.split(">")[0]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append((tag, value))


@pytest.fixture(scope="module")
def run(prefect_server, tmp_path_factory, video_25):
    from scoreflow.flows.score import score_video

    d = tmp_path_factory.mktemp("report")
    shots = d / "shots.csv"
    shots.write_text(
        "scene,tc_in,tc_out,description\n1,0,4,warm acoustic morning at 2 s\n"
        "2,4,8,tense chase\n3,8,12,smoky jazz\n"
    )
    score_video(video=str(video_25), shots=str(shots), out=str(d / "out"))
    return d / "out"


def test_every_link_is_relative_and_points_at_a_file_of_the_run(run):
    page = (run / "report.html").read_text()
    links = Links()
    links.feed(page)
    tags = [tag for tag, _ in links.refs]
    assert tags.count("video") == 1 and tags.count("audio") == 2 + 3  # mix, music, 3 cues
    for _, ref in links.refs:
        assert not re.match(r"[a-z]+:", ref), ref  # no http(s), file or data URLs
        assert (run / ref).is_file(), ref
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert "url(" not in page and "<script" not in page and "<link" not in page


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    return found


def headless(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--mute-audio",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run(
        [chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("width", [1400, 700])
def test_the_page_renders_in_chromium_at_the_windows_width(run, tmp_path, width):
    shot = tmp_path / f"report-{width}.png"
    url = (run / "report.html").as_uri()
    proc = headless(f"--screenshot={shot}", f"--window-size={width},1400", url,
                    profile=tmp_path / "profile")  # fmt: skip
    assert shot.is_file(), proc.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[1] == width
    # the timeline's cue boxes (#f6d8a8) are drawn, and reach past 80 % of the width
    cue = (abs(image - [0xF6, 0xD8, 0xA8]).sum(axis=2) < 12).nonzero()
    assert len(cue[1]) > 200 and cue[1].max() > 0.8 * width
    dom = headless("--dump-dom", url, profile=tmp_path / "profile").stdout
    assert dom.count("<audio") == 5 and "<video" in dom and "<svg" in dom
