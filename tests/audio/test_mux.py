import av
import numpy as np
import soundfile

from scoreflow.tasks.audio.media import generate_video, probe, read_audio, stream_hash
from scoreflow.tasks.audio.mux import audio_codec_for, mux


def test_video_copied_and_original_kept(tmp_path, video_25):
    info = probe(video_25)
    sr = 48000
    n = round(info.duration_s * sr)
    t = np.arange(n) / sr
    music = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    wav = tmp_path / "s.wav"
    soundfile.write(wav, np.stack([music, music]).T, sr, subtype="PCM_24")
    out = tmp_path / "o.mp4"
    mux(video_25, wav, out, media=info, keep_original_audio=True)
    got = probe(out)
    assert stream_hash(out) == stream_hash(video_25)
    assert got.frames == info.frames and got.audio_streams == 2
    assert stream_hash(out, stream="a:1") == stream_hash(video_25, stream="a:0")
    decoded = read_audio(out, sample_rate=sr)
    assert abs(decoded.shape[1] - n) <= sr / 25  # within one frame
    mov = tmp_path / "o.mov"
    mux(video_25, wav, mov, media=info.__class__(**{**info.__dict__, "container": "mov"}))
    assert stream_hash(mov) == stream_hash(video_25)


def test_codec_by_container():
    assert audio_codec_for("mp4") == "aac"
    assert audio_codec_for("mov") == "pcm_s24le"
    assert audio_codec_for("mp4", "alac") == "alac"


def test_mov_gets_pcm_and_keeps_its_timecode(tmp_path):
    video = generate_video(
        tmp_path / "tc.mov", seconds=3, rate="24000/1001", size="64x36", start_tc="01:00:00:00"
    )
    info = probe(video)
    wav = tmp_path / "s.wav"
    soundfile.write(wav, np.zeros((round(info.duration_s * 48000), 2)), 48000, subtype="PCM_24")
    out = tmp_path / "o.mov"
    mux(video, wav, out, media=info, keep_original_audio=True)
    with av.open(str(out)) as c:
        codecs = [s.codec_context.name for s in c.streams.audio]
    assert codecs == ["pcm_s24le", "aac"]  # ours as PCM, the original copied as it was
    assert probe(out).start_tc == "01:00:00:00"
    assert stream_hash(out) == stream_hash(video)
