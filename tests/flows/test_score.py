"""End to end through the Prefect engine, measured with ffmpeg and PyAV, not our own numbers."""

import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from scoreflow.flows.score import score_video
from scoreflow.tasks.audio.media import (
    generate_video,
    measure_loudness,
    probe,
    read_audio,
    stream_hash,
)
from scoreflow.tasks.cloud.storage import sha256_file

SHOTS = """scene,tc_in,tc_out,description,music
1,00:00:00:00,00:00:04:00,"warm acoustic morning, gentle",
2,00:00:04:00,00:00:07:00,{second},
3,00:00:07:00,00:00:09:00,interview,off
4,00:00:09:12,00:00:12:00,"smoky jazz lounge",
"""


def generate_states(flow_run_id):
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {r.name: r.state.name for r in runs if r.name.startswith("generate-cue")}


@pytest.fixture(scope="module")
def first_run(prefect_server, tmp_path_factory, video_25):
    d = tmp_path_factory.mktemp("e2e")
    shots = d / "shots.csv"
    shots.write_text(SHOTS.format(second='"tense night chase, builds"'))
    before = sha256_file(video_25)
    state = score_video(
        video=str(video_25), shots=str(shots), out=str(d / "out"), return_state=True
    )
    return d, shots, state, before


def test_outputs_measured(first_run, video_25):
    d, _, state, before = first_run
    assert state.is_completed()
    out = d / "out"
    scored = out / "v25.scored.mp4"
    info = probe(video_25)
    # picture copied bit for bit, source untouched
    assert stream_hash(scored) == stream_hash(video_25)
    assert sha256_file(video_25) == before
    # audio as long as the video, within one frame
    decoded = read_audio(scored, sample_rate=48000)
    assert abs(decoded.shape[1] / 48000 - info.duration_s) <= 1 / 25
    # loudness by an independent meter: the mix (music + the video's dialogue) to EBU R128
    loud = measure_loudness(out / "mix.wav")
    assert abs(loud["integrated_lufs"] - -23.0) <= 0.5, loud
    assert loud["true_peak_dbtp"] <= -1.0, loud
    in_video = measure_loudness(scored)
    assert abs(in_video["integrated_lufs"] - -23.0) <= 1.0, in_video
    assert in_video["true_peak_dbtp"] <= -1.0 + 0.3, in_video  # AAC may add a little overshoot
    # the stems are the mix's buses: they sum to it, and the dialogue stem is the original
    mix_wav, sr = soundfile.read(out / "mix.wav", always_2d=True)
    music_stem, _ = soundfile.read(out / "stems" / "music.wav", always_2d=True)
    speech_stem, _ = soundfile.read(out / "stems" / "dialogue.wav", always_2d=True)
    assert np.abs(music_stem + speech_stem - mix_wav).max() < 1e-5
    original = read_audio(video_25, sample_rate=48000)[:, : mix_wav.shape[0]].T
    assert np.corrcoef(original[:, 0], speech_stem[: original.shape[0], 0])[0, 1] > 0.999
    # no music in the scene marked off (7..9 s) nor the gap (9..9.48 s)
    track, sr = soundfile.read(out / "soundtrack.wav")
    assert np.abs(track[int(7.05 * 48000) : int(9.4 * 48000)]).max() < 1e-3
    assert np.abs(music_stem[int(7.05 * 48000) : int(9.4 * 48000)]).max() < 1e-3
    assert np.sqrt((track[48000 : 3 * 48000] ** 2).mean()) > 0.01  # music where it should be
    # the soundtrack and every cue have exact sample counts
    assert sr == 48000 and track.shape == (300 * 48000 // 25, 2)
    for sid, (a, b) in {"1": (0, 4), "2": (4, 7), "4": (9.48, 12)}.items():
        data, _ = soundfile.read(out / "cues" / f"{sid}.wav", always_2d=True)
        span = round(b * 48000) - round(a * 48000)
        assert data.shape[0] == span + round(1.5 * 48000)  # the scene, then its ring-out
        assert 20 * np.log10(np.abs(data[-240:]).max() + 1e-12) < -60  # no click at the end
        assert (out / "cues" / f"{sid}.mid").stat().st_size > 100
    rows = (out / "cuesheet.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("production,cue,scene,title,usage")
    manifest = json.loads((out / "manifest.json").read_text())
    for name, entry in manifest["outputs"].items():
        assert sha256_file(out / name) == entry["sha256"]
    assert manifest["inputs"]["video"]["sha256"] == before
    assert [s["music"] for s in manifest["scenes"]] == [True, True, False, True]
    # the chase plays louder than the gentle morning: loudness follows intensity
    cues = {s["id"]: s["cue"] for s in manifest["scenes"] if s["music"]}
    briefs = {s["id"]: s["brief"] for s in manifest["scenes"] if s["music"]}
    assert briefs["2"]["intensity"] > briefs["1"]["intensity"]
    assert cues["2"]["metrics"]["level_db"] > cues["1"]["metrics"]["level_db"]
    assert briefs["2"]["entry"] == "matched" and briefs["1"]["entry"] == "soft"
    assert "MuseScore" in cues["1"]["licence"] or "TimGM6mb" in cues["1"]["licence"]
    # the generated dialogue talks from 2.5 s to 7 s of every 7 s
    found = manifest["dialogue"]["regions_s"]
    assert len(found) == 2
    assert np.allclose(found, [[2.5, 7.0], [9.5, 12.0]], atol=0.1), found
    assert manifest["qc"]["video_stream_copied"] is True
    page = (out / "report.html").read_text()
    assert "<svg" in page and "<polyline" in page and page.count("#b9e0b0") == 2
    assert not list(out.rglob("*.partial*"))


def test_rerun_regenerates_only_the_changed_cue(first_run, video_25):
    d, shots, state, _ = first_run
    assert set(generate_states(state.state_details.flow_run_id).values()) == {"Completed"}
    shots.write_text(SHOTS.format(second='"sad rainy goodbye, slow"'))
    again = score_video(
        video=str(video_25), shots=str(shots), out=str(d / "out"), return_state=True
    )
    states = generate_states(again.state_details.flow_run_id)
    assert states == {
        "generate-cue-1": "Cached",
        "generate-cue-2": "Completed",
        "generate-cue-4": "Cached",
    }
    manifest = again.result()
    assert [s.get("cue", {}).get("cached") for s in manifest["scenes"]] == [True, False, None, True]
    # the cached cues live in the cue cache folder, not Prefect's own storage
    cache_dir = Path(os.environ["SCOREFLOW_CACHE_DIR"])
    assert len(list(cache_dir.glob("scoreflow-cue-*"))) >= 4


def test_the_run_is_named_tagged_and_has_artifacts(first_run):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    d, _, state, _ = first_run
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    assert re.fullmatch(r"score-v25-\d{8}-\d{4}", run.name), run.name
    assert {"scoreflow", "backend:composer", "preset:ebu-r128"} <= set(run.tags)
    by_key = {a.key: a for a in artifacts}
    summary = by_key["scoreflow-summary"].data
    assert "| check | measured | verdict |" in summary and "| pass |" in summary
    assert "FAIL" not in summary
    table = by_key["scoreflow-cues"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["scene"] for r in rows] == ["1", "2", "4"]
    link = re.fullmatch(r"\[report\.html\]\((file://\S+)\)", by_key["scoreflow-report"].data)
    assert link and Path(urlparse(link[1]).path) == (d / "out" / "report.html").resolve()
    assert by_key["scoreflow-video"].data.endswith("/v25.scored.mp4)")


EDL = """TITLE: TC CUT
FCM: DROP FRAME

001  A        V     C        00:00:00;00 00:00:04;00 01:00:00;00 01:00:04;00
* FROM CLIP NAME: calm ambient opening
002  B        V     C        00:00:04;00 00:00:04;00 01:00:04;00 01:00:04;00
002  C        V     D    015 00:10:00;00 00:10:04;00 01:00:04;00 01:00:08;00
* FROM CLIP NAME: tense chase mood=tense
003  D        V     C        00:20:00;00 00:20:03;00 01:00:08;00 01:00:11;00
* COMMENT: warm acoustic transition=fade usage=VI
"""


def test_score_a_cut_with_timecode_to_netflix(prefect_server, tmp_path):
    video = generate_video(
        tmp_path / "cut.mov", seconds=12, rate="30000/1001", size="64x36", start_tc="01:00:00;00"
    )
    edl = tmp_path / "cut.edl"
    edl.write_text(EDL)
    out = tmp_path / "out"
    manifest = score_video(video=str(video), shots=str(edl), out=str(out), preset="netflix")
    # positions: 01:00:04;00 is frame 120, 01:00:08;00 is 240, 01:00:11;00 is 330
    spans = [(s["start_frame"], s["end_frame"]) for s in manifest["scenes"]]
    assert spans == [(0, 120), (120, 240), (240, 330)]
    assert [s["transition"] for s in manifest["scenes"]] == [None, "crossfade", "fade"]
    timeline = otio.adapters.read_from_file(str(out / "score.xml"))
    original, music = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert [c.name for c in original.find_clips()] == ["cut.mov"]  # the cut's own audio
    start = round(timeline.global_start_time.value)
    assert start == 107892  # 01:00:00;00
    got = [
        (
            round(c.range_in_parent().start_time.value),
            round(c.range_in_parent().end_time_exclusive().value),
        )
        for c in music.find_clips()
    ]
    assert got == spans
    # Netflix-style: dialogue-gated loudness to -27 by the independent meter, peaks under -2
    assert manifest["loudness"]["gate"] == "dialogue"
    regions = manifest["dialogue"]["regions_s"]
    gated = measure_loudness(out / "mix.wav", regions_s=[tuple(r) for r in regions])
    assert abs(gated["integrated_lufs"] - -27.0) <= 0.5, gated
    assert measure_loudness(out / "mix.wav")["true_peak_dbtp"] <= -2.0
    assert probe(out / "cut.scored.mov").start_tc == "01:00:00;00"
    rows = (out / "cuesheet.csv").read_text().splitlines()
    assert "01:00:08;00,01:00:11;00" in rows[3] and ",VI," in rows[3]
