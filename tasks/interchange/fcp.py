"""The score for Final Cut, Premiere and Resolve: FCP 7 XML (xmeml 5) and FCPXML 1.8
(the version Final Cut Pro 10.4+ and Resolve import, media named by ``asset src``).

Written here rather than by OpenTimelineIO's adapters, which leave the sequence format
empty, give clips two rates and no channel count or source track, drop transitions on
audio, claim a source timecode the media lack, and cannot write FCPXML for file media.

Both files hold the picture (V1), the video's own audio on its own track, and the music:
each cue at its scene's record position, a crossfade into it as an audio transition
centred on the cut (Cross Fade +3 dB; the cue WAVs have no handles, so an NLE may shorten
it), paths as absolute ``file://`` URLs. Timecode appears only where it is true: the
sequence starts at the programme's start; a media file carries a timecode only when it
has one (a video with a tmcd track), never the cue WAVs.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree as ET

from scoreflow.tasks.timeline.model import MediaInfo, Scene
from scoreflow.tasks.timeline.timecode import format_timecode, parse_timecode

CUE_DEPTH = 24  # bits: the cue WAVs are PCM_24


@dataclass(frozen=True)
class CueClip:
    """A cue on the music track: `start` and `frames` in programme frames (from the
    video's first frame)."""

    scene_id: str
    name: str
    path: Path
    start: int
    frames: int
    crossfade_frames: int = 0  # a crossfade from the previous cue, centred on `start`
    fade_out_frames: int = 0  # a fade to silence by the cue's end
    media_frames: int = 0  # length of the cue's file (its ring-out past the clip included)

    @property
    def file_frames(self) -> int:
        return max(self.frames, self.media_frames)


@dataclass(frozen=True)
class Sequence:
    """What both writers need: the picture, the cues and the programme's timecode."""

    name: str
    video: Path
    media: MediaInfo
    cues: tuple[CueClip, ...]
    tc_start: int  # programme timecode of the video's first frame, in frames
    drop_frame: bool
    relative: bool = False  # media paths relative to the output folder (an uploaded run)
    sample_rate: int = 48000  # of the cue WAVs and the sequence's audio

    def url(self, path: Path) -> str:
        """A media path as NLEs link it: an absolute ``file://`` URL, or with `relative`
        the path inside the run folder (to relink after download, see RELINK.txt)."""
        if self.relative:
            return urllib.parse.quote(path.as_posix())
        return "file://" + urllib.parse.quote(str(path.resolve()))

    def music_layout(self, start: int = 0) -> Iterator[tuple[str, int, int, int]]:
        """The music track in order from frame `start`, as (kind, first frame, frames, cue
        index): ``gap`` (cue index -1), ``crossfade`` (centred on the cut into that cue, which
        touches the one before) and ``clip``."""
        at = start
        for i, cue in enumerate(self.cues):
            if cue.start > at:
                yield "gap", at, cue.start - at, -1
            if cue.crossfade_frames:
                yield "crossfade", cue.start - cue.crossfade_frames // 2, cue.crossfade_frames, i
            yield "clip", cue.start, cue.frames, i
            at = cue.start + cue.frames


def cue_clips(
    scenes: list[Scene],
    cue_files: dict[str, Path],
    *,
    crossfade_s: float,
    media_frames: dict[str, int] | None = None,
) -> list[CueClip]:
    """The music track's clips from the scenes with cues, with the transitions the mix
    makes between touching cues (a crossfade of the scene's `transition_s`, else
    `crossfade_s`, at most the outgoing cue and half the incoming; a fade to silence).
    `media_frames` gives each cue file's length where it runs past its clip."""
    clips: list[CueClip] = []
    prev: Scene | None = None
    for scene in scenes:
        if scene.id not in cue_files:
            continue
        xfade = 0
        touching = prev is not None and prev.end_frame == scene.start_frame
        kind = scene.transition or "crossfade"
        length = round((crossfade_s if scene.transition_s is None else scene.transition_s)
                       * scene.rate)  # fmt: skip
        if touching and kind == "crossfade":
            xfade = 2 * (min(length, prev.frames * 2, scene.frames) // 2)  # type: ignore[union-attr]
        elif touching and kind == "fade":
            clips[-1] = replace(clips[-1], fade_out_frames=min(length, clips[-1].frames))
        wav = cue_files[scene.id]
        name = scene.id if wav.stem == scene.id else f"{scene.id} {wav.stem}"
        clips.append(
            CueClip(
                scene.id,
                name,
                wav,
                scene.start_frame,
                scene.frames,
                crossfade_frames=xfade,
                media_frames=(media_frames or {}).get(scene.id, 0),
            )
        )
        prev = scene
    return clips


# --- FCP 7 XML ---------------------------------------------------------------------------


def _el(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = str(text)
    return node


def _rate(parent: ET.Element, rate: Fraction) -> None:
    node = _el(parent, "rate")
    _el(node, "timebase", round(rate))
    _el(node, "ntsc", "TRUE" if rate.denominator == 1001 else "FALSE")


def _timecode(parent: ET.Element, frame: int, rate: Fraction, drop: bool) -> None:
    node = _el(parent, "timecode")
    _rate(node, rate)
    _el(node, "string", format_timecode(frame, rate, drop_frame=drop))
    _el(node, "frame", frame)
    _el(node, "displayformat", "DF" if drop else "NDF")


def _picture(parent: ET.Element, m: MediaInfo) -> ET.Element:
    """<samplecharacteristics> of the picture: rate, width, height."""
    node = _el(parent, "samplecharacteristics")
    _rate(node, m.rate)
    _el(node, "width", m.width)
    _el(node, "height", m.height)
    return node


def _audio_characteristics(parent: ET.Element, *, rate: int, depth: int) -> None:
    node = _el(parent, "samplecharacteristics")
    _el(node, "depth", depth)
    _el(node, "samplerate", rate)


def _video_file(parent: ET.Element, seq: Sequence, *, full: bool) -> None:
    """The source video's <file>: whole the first time, a reference after."""
    node = _el(parent, "file", id="file-video")
    if not full:
        return
    m, rate = seq.media, seq.media.rate
    _el(node, "name", seq.video.name)
    _el(node, "pathurl", seq.url(seq.video))
    _rate(node, rate)
    _el(node, "duration", m.frames)
    if m.start_tc:  # only a timecode the file really carries
        _timecode(node, parse_timecode(m.start_tc, rate), rate, ";" in m.start_tc)
    media = _el(node, "media")
    _picture(_el(media, "video"), m)
    if m.audio_streams:
        audio = _el(media, "audio")
        _audio_characteristics(audio, rate=m.audio_sample_rate or 48000, depth=16)
        _el(audio, "channelcount", m.audio_channels or 2)


def _clipitem(
    track: ET.Element, ident: str, name: str, *, start: int, frames: int, rate: Fraction
) -> ET.Element:
    item = _el(track, "clipitem", id=ident)
    _el(item, "name", name)
    _el(item, "enabled", "TRUE")
    _el(item, "duration", frames)
    _rate(item, rate)
    _el(item, "start", start)
    _el(item, "end", start + frames)
    _el(item, "in", 0)
    _el(item, "out", frames)
    return item


def _sourcetrack(item: ET.Element, media: str) -> None:
    node = _el(item, "sourcetrack")
    _el(node, "mediatype", media)
    _el(node, "trackindex", 1)


def _transition(track: ET.Element, start: int, frames: int, rate: Fraction, alignment: str) -> None:
    """An audio Cross Fade (+3 dB): between two clips (``center``) or to silence
    (``end-black``)."""
    item = _el(track, "transitionitem")
    _rate(item, rate)
    _el(item, "start", start)
    _el(item, "end", start + frames)
    _el(item, "alignment", alignment)
    effect = _el(item, "effect")
    _el(effect, "name", "Cross Fade (+3dB)")
    _el(effect, "effectid", "KGAudioTransCrossFade3dB")
    _el(effect, "effecttype", "transition")
    _el(effect, "mediatype", "audio")


def _music_track(audio: ET.Element, seq: Sequence) -> None:
    rate = seq.media.rate
    track = _el(audio, "track", premiereTrackType="Stereo")
    for i, cue in enumerate(seq.cues, 1):
        if cue.crossfade_frames:
            half = cue.crossfade_frames // 2
            _transition(track, cue.start - half, cue.crossfade_frames, rate, "center")
        item = _clipitem(track, f"clipitem-cue-{i}", cue.name, start=cue.start,
                         frames=cue.frames, rate=rate)  # fmt: skip
        file = _el(item, "file", id=f"file-cue-{i}")
        _el(file, "name", cue.path.name)
        _el(file, "pathurl", seq.url(cue.path))
        _rate(file, rate)
        _el(file, "duration", cue.file_frames)
        audio_media = _el(_el(file, "media"), "audio")
        _audio_characteristics(audio_media, rate=seq.sample_rate, depth=CUE_DEPTH)
        _el(audio_media, "channelcount", 2)
        _sourcetrack(item, "audio")
        if cue.fade_out_frames:
            end = cue.start + cue.frames
            _transition(track, end - cue.fade_out_frames, cue.fade_out_frames, rate, "end-black")
    _el(track, "enabled", "TRUE")


def fcp7_xml(seq: Sequence) -> str:
    """FCP 7 XML (xmeml version 5): V1 the picture, A1 the video's own audio (when it has
    any), A2 the music with its crossfades."""
    m, rate = seq.media, seq.media.rate
    root = ET.Element("xmeml", version="5")
    sequence = _el(root, "sequence", id="sequence-1")
    _el(sequence, "name", seq.name)
    _el(sequence, "duration", m.frames)
    _rate(sequence, rate)
    _timecode(sequence, seq.tc_start, rate, seq.drop_frame)
    media = _el(sequence, "media")
    video = _el(media, "video")
    _el(_picture(_el(video, "format"), m), "pixelaspectratio", "square")
    item = _clipitem(_el(video, "track"), "clipitem-video", seq.video.name, start=0,
                     frames=m.frames, rate=rate)  # fmt: skip
    _video_file(item, seq, full=True)
    audio = _el(media, "audio")
    _el(audio, "numOutputChannels", 2)
    _audio_characteristics(_el(audio, "format"), rate=seq.sample_rate, depth=CUE_DEPTH)
    if m.audio_streams:
        track = _el(audio, "track", premiereTrackType="Stereo")
        item = _clipitem(track, "clipitem-original", seq.video.name, start=0,
                         frames=m.frames, rate=rate)  # fmt: skip
        _video_file(item, seq, full=False)
        _sourcetrack(item, "audio")
    _music_track(audio, seq)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(
        root, encoding="unicode"
    )


# --- FCPXML 1.8 -------------------------------------------------------------------------


def _t(frames: int, rate: Fraction) -> str:
    """A rational FCPXML time for `frames` at `rate` (``1001/24000s``, ``4s``)."""
    seconds = Fraction(frames) / rate
    return f"{seconds.numerator}s" if seconds.denominator == 1 else f"{seconds}s"


def fcpxml(seq: Sequence) -> str:
    """FCPXML 1.8: the video as the primary storyline (its own audio with it) and the music
    as a connected storyline below it, with gaps and crossfade transitions."""
    m, rate = seq.media, seq.media.rate
    tc_format = "DF" if seq.drop_frame else "NDF"
    root = ET.Element("fcpxml", version="1.8")
    resources = _el(root, "resources")
    _el(resources, "format", id="r1", name=f"scoreflow {m.width}x{m.height}",
        frameDuration=_t(1, rate), width=str(m.width), height=str(m.height))  # fmt: skip
    video_attrs = {"hasVideo": "1", "format": "r1", "videoSources": "1"}
    if m.audio_streams:
        video_attrs |= {"hasAudio": "1", "audioSources": "1"}
        video_attrs |= {"audioChannels": str(m.audio_channels or 2)}
        video_attrs |= {"audioRate": str(m.audio_sample_rate or 48000)}
    _el(resources, "asset", id="r2", name=seq.video.stem, src=seq.url(seq.video), start="0s",
        duration=_t(m.frames, rate), **video_attrs)  # fmt: skip
    for i, cue in enumerate(seq.cues, 3):
        _el(resources, "asset", id=f"r{i}", name=cue.name, src=seq.url(cue.path), start="0s",
            duration=_t(cue.file_frames, rate), hasVideo="0", hasAudio="1", audioSources="1",
            audioChannels="2", audioRate=str(seq.sample_rate))  # fmt: skip
    event = _el(_el(root, "library"), "event", name="scoreflow")
    project = _el(event, "project", name=seq.name)
    sequence = _el(project, "sequence", format="r1", duration=_t(m.frames, rate),
                   tcStart=_t(seq.tc_start, rate), tcFormat=tc_format,
                   audioLayout="stereo", audioRate=f"{seq.sample_rate / 1000:g}k")  # fmt: skip
    spine = _el(sequence, "spine")
    clip = _el(spine, "asset-clip", ref="r2", name=seq.video.stem,
               offset=_t(seq.tc_start, rate), start="0s", duration=_t(m.frames, rate),
               format="r1", tcFormat=tc_format)  # fmt: skip
    _music_storyline(clip, seq, rate)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(
        root, encoding="unicode"
    )


def _music_storyline(clip: ET.Element, seq: Sequence, rate: Fraction) -> None:
    """The cues as a secondary storyline under the picture (lane -1), from the first cue."""
    if not seq.cues:
        return
    first = seq.cues[0].start
    story = _el(clip, "spine", lane="-1", offset=_t(first, rate), name="Music")
    for kind, at, frames, i in seq.music_layout(first):
        if kind == "gap":
            _el(story, "gap", name="Gap", offset=_t(at, rate), start="0s",
                duration=_t(frames, rate))  # fmt: skip
        elif kind == "crossfade":
            _el(story, "transition", name="Cross Dissolve", offset=_t(at, rate),
                duration=_t(frames, rate))  # fmt: skip
        else:
            _el(story, "asset-clip", ref=f"r{i + 3}", name=seq.cues[i].name,
                offset=_t(at, rate), start="0s", duration=_t(frames, rate),
                audioRole="music")  # fmt: skip
