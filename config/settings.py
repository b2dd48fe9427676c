"""The settings as typed models: one per table of config/defaults.toml, `Settings` the root.

The models are strict about TOML types (an integer is taken for a float, nothing else is
converted), refuse unknown keys, are immutable and hashable by value, and dump under the
TOML's names (``ace-step``), so that ``Settings.model_dump()`` is the settings dict the
run manifest records. Validating one checks the types, then the rules of this module
(presets, finite numbers, output formats, task runners, `RANGES`, quality weights); every
failure is an `InputError` naming the key and the value, as the CLI prints it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails

from scoreflow.config.audio import check_audio_options
from scoreflow.config.files import loudness_presets
from scoreflow.tasks.errors import InputError


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


#: a TOML array: held as a tuple (hashable), dumped as a list. Its items are checked by
#: the code that reads them (`tasks.library.plan.delivery` for the [library] lists).
TomlList = Annotated[tuple[Any, ...], BeforeValidator(_as_tuple), PlainSerializer(list)]


class Table(BaseModel):
    """A table of the settings: TOML types, no unknown keys, frozen, dumped by TOML names."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ProjectSettings(Table):
    """[project]: who and what the runs are for (Prefect tags, cache namespace)."""

    name: str
    client: str


class CacheSettings(Table):
    """[cache]: where generated cues are kept, and for how long."""

    dir: str
    storage: str
    expire_days: float


#: `flows.runners`
RUNNERS = ("thread", "dask")
SAMPLE_RATES = (44100, 48000, 96000)
DASK_SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://")


class PipelineSettings(Table):
    """[pipeline]: the backend, sample rate, seed, loudness preset, takes and task runner."""

    backend: str
    model: str
    sample_rate: int
    seed: int
    preset: str
    takes: int
    task_runner: str
    threads: int
    dask_address: str
    dask_workers: int
    cue_concurrency: int

    def check_choices(self) -> None:
        """The loudness preset and the sample rate are ones the pipeline has."""
        presets = loudness_presets()
        if self.preset not in presets:
            raise InputError(
                "unknown loudness preset", field="pipeline.preset", value=self.preset,
                fix=f"Use one of {', '.join(presets)}",
            )  # fmt: skip
        if self.sample_rate not in SAMPLE_RATES:
            raise InputError(
                "unsupported sample rate", field="pipeline.sample_rate", value=self.sample_rate,
                fix="Use 44100, 48000 or 96000",
            )  # fmt: skip

    def check_runner(self) -> None:
        """The task runner settings name a runner that exists, with sound numbers."""
        if self.task_runner not in RUNNERS:
            raise InputError(
                "unknown task runner", field="pipeline.task_runner", value=self.task_runner,
                fix=f"Use one of {', '.join(RUNNERS)}",
            )  # fmt: skip
        address = self.dask_address
        if address and not address.startswith(DASK_SCHEMES):
            raise InputError(
                "not a Dask scheduler address", field="pipeline.dask_address", value=address,
                fix='Give the scheduler\'s address, e.g. "tcp://10.0.0.5:8786", or "" for a '
                "local cluster",
            )  # fmt: skip
        for key, lo in (("dask_workers", 1), ("cue_concurrency", 0), ("threads", 0)):
            value = getattr(self, key)
            if value < lo:
                raise InputError(
                    f"must be a whole number, {lo} or more", field=f"pipeline.{key}", value=value
                )


class AlignSettings(Table):
    """[align]: fitting a cue to its scene."""

    max_stretch: float
    fade_out_s: float
    declick_s: float


class MixSettings(Table):
    """[mix]: crossfades, fades, ducking under dialogue, cue loudness, the custom preset."""

    crossfade_s: float
    fade_in_s: float
    fade_out_s: float
    with_original: bool
    duck_db: float
    duck_attack_s: float
    duck_release_s: float
    speech_margin_db: float
    music_vs_dialogue_lu: float
    intensity_range_lu: float
    custom_target_lufs: float
    custom_true_peak_dbtp: float


class QualityWeights(Table):
    """[quality.weights]: of each group in a cue's overall score."""

    adherence: float
    coherence: float
    sync: float
    originality: float
    technical: float

    def check(self) -> None:
        """Every weight is 0 or more, and not all are 0."""
        weights = self.model_dump()
        bad = next((k for k, v in weights.items() if v < 0), None)
        if bad is not None or not any(weights.values()):
            raise InputError(
                "quality weights must be 0 or more, and not all 0",
                field=f"quality.weights.{bad}" if bad else "quality.weights",
                value=weights[bad] if bad else weights,
            )


class QualitySettings(Table):
    """[quality]: the thresholds every cue is scored against, and the weights."""

    tempo_tolerance_pct: float
    hit_tolerance_ms: float
    out_of_key_max: float
    clashes_max: float
    likeness_max: float
    true_peak_dbtp_max: float
    dc_db_max: float
    silence_s_max: float
    tail_s: float
    reference: str
    weights: QualityWeights


WAV_SUBTYPES_FIX = "Use PCM_16, PCM_24, PCM_32 or FLOAT"


class OutputSettings(Table):
    """[output]: the delivered audio's codec, bitrate and WAV subtype, and what is written."""

    audio_codec: str
    audio_bitrate: str
    wav_subtype: str
    keep_original_audio: bool
    interchange: bool

    def check(self) -> None:
        """The formats ffmpeg and libsndfile are asked for exist."""
        import soundfile

        if self.wav_subtype not in soundfile.available_subtypes("WAV"):
            raise InputError(
                "not a WAV subtype", field="output.wav_subtype", value=self.wav_subtype,
                fix=WAV_SUBTYPES_FIX,
            )  # fmt: skip
        check_audio_options(None, self.audio_codec, self.audio_bitrate)


class CuesheetSettings(Table):
    """[cuesheet]: who the cue sheet names."""

    composer: str
    composer_affiliation: str
    publisher: str
    publisher_affiliation: str


class ComposerSettings(Table):
    """[composer]: the SoundFont, output gain, extra vocabulary and reverb."""

    soundfont: str
    soundfont_licence: str
    gain_db: float
    styles: str
    reverb: float


class MusicgenSettings(Table):
    """[musicgen]: MusicGen through transformers (the audiocraft backend reads it too)."""

    device: str
    dtype: str
    guidance_scale: float
    temperature: float
    top_k: int
    top_p: float
    window_s: float
    stride_s: float
    max_batch: int
    allow_download: bool
    raw_prompt: bool
    static_cache: bool


class AceStepSettings(Table):
    """[ace-step]: ACE-Step 1.5 through diffusers."""

    device: str
    dtype: str
    steps: int
    guidance_scale: float
    shift: float
    window_s: float
    overlap_s: float
    max_batch: int
    allow_download: bool
    raw_prompt: bool
    guide: str
    cover_strength: float


class StableAudioSettings(Table):
    """[stable-audio]: Stable Audio Open through diffusers."""

    device: str
    dtype: str
    steps: int
    guidance_scale: float
    negative_prompt: str
    window_s: float
    overlap_s: float
    max_batch: int
    allow_download: bool
    raw_prompt: bool


class PictureSettings(Table):
    """[picture]: reading the picture into scenes and proposed hit points."""

    suggest: bool
    detector: str
    threshold: float
    min_content: float
    min_shot_s: float
    min_cue_s: float
    max_cue_s: float
    look_threshold: float
    sound_threshold_db: float
    silent_db: float
    dialogue_across_s: float
    hits_per_minute: float
    hit_gap_s: float
    edge_s: float
    long_shot_s: float
    flash_luma: float
    motion_ratio: float
    speech_margin_s: float
    genre: str


class LibrarySettings(Table):
    """[library]: what `scoreflow library` delivers of every track (its rules, with a
    brief's [delivery] on top, are `tasks.library.plan.delivery`'s)."""

    name: str
    artist: str
    main_s: TomlList
    cutdowns_s: TomlList
    sting_s: float
    loops_bars: TomlList
    alternates: TomlList
    stems: bool
    formats: TomlList
    target_lufs: float
    true_peak_dbtp: float
    mp3_kbps: int
    similarity_max: float
    max_tries: int


#: (table, key, lowest, highest), checked in this order after the other rules
RANGES: tuple[tuple[str, str, float, float], ...] = (
    ("composer", "gain_db", -60.0, 12.0),
    ("composer", "reverb", 0.0, 2.0),
    ("align", "max_stretch", 0.0, 0.25),
    ("align", "fade_out_s", 0.0, 5.0),
    ("align", "declick_s", 0.0, 0.1),
    ("mix", "crossfade_s", 0.0, 10.0),
    ("mix", "intensity_range_lu", 0.0, 20.0),
    ("mix", "fade_in_s", 0.0, 60.0),
    ("mix", "fade_out_s", 0.0, 60.0),
    ("mix", "duck_db", 0.0, 40.0),
    ("mix", "duck_attack_s", 0.0, 5.0),
    ("mix", "duck_release_s", 0.0, 10.0),
    ("mix", "speech_margin_db", 3.0, 40.0),
    ("mix", "music_vs_dialogue_lu", -30.0, 10.0),
    ("mix", "custom_target_lufs", -40.0, -5.0),
    ("mix", "custom_true_peak_dbtp", -9.0, 0.0),
    ("cache", "expire_days", 0.0, 36500.0),
    ("pipeline", "takes", 1, 16),
    ("quality", "tempo_tolerance_pct", 0.1, 50.0),
    ("quality", "hit_tolerance_ms", 1.0, 1000.0),
    ("quality", "out_of_key_max", 0.0, 1.0),
    ("quality", "clashes_max", 0.0, 1.0),
    ("quality", "likeness_max", 0.0, 1.0),
    ("quality", "silence_s_max", 0.0, 60.0),
    ("quality", "tail_s", 0.0, 30.0),
)


class Settings(Table):
    """Every setting of a run: config/defaults.toml, a project file and flags, validated.

    Build one with `scoreflow.config.load_settings` or `Settings.from_dict`.
    """

    project: ProjectSettings
    cache: CacheSettings
    pipeline: PipelineSettings
    align: AlignSettings
    mix: MixSettings
    quality: QualitySettings
    output: OutputSettings
    cuesheet: CuesheetSettings
    composer: ComposerSettings
    musicgen: MusicgenSettings
    ace_step: AceStepSettings = Field(alias="ace-step")
    stable_audio: StableAudioSettings = Field(alias="stable-audio")
    picture: PictureSettings
    library: LibrarySettings

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Settings:
        if not (info.context or {}).get("types_only"):
            check_rules(self)
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Settings:
        """Settings from a complete settings dict (``model_dump()``'s shape, e.g. a run
        manifest's ``settings``), validated; an `InputError` names `source` and the key."""
        return validated(data, layer=data, source=source)


def validated(
    data: Mapping[str, Any],
    *,
    layer: Mapping[str, Any],
    source: str | None,
    types_only: bool = False,
) -> Settings:
    """`data` as `Settings` (with `types_only`, the rules are left out).

    A type error is reported as an `InputError` for the first bad key of `layer` (the
    part of `data` that `source` gave), in the order `layer` has its keys.
    """
    try:
        return Settings.model_validate(data, context={"types_only": types_only})
    except ValidationError as exc:
        first = min(exc.errors(), key=lambda e: _position(layer, e["loc"]))
        raise type_error(first, source=source) from None


def _position(layer: Mapping[str, Any], loc: Sequence[int | str]) -> list[int]:
    """Where `loc` is in `layer`: the index of each key within its table."""
    out: list[int] = []
    node: Any = layer
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            break
        out.append(list(node).index(part))
        node = node[part]
    return out


def type_error(error: ErrorDetails, *, source: str | None) -> InputError:
    """A pydantic error about a key of the settings, in scoreflow's words."""
    loc = [str(part) for part in error["loc"]]
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        model = _fields(model)[part].annotation
    name = ".".join(loc)
    if error["type"] == "extra_forbidden":
        prefix = "".join(f"{part}." for part in loc[:-1])
        known = ", ".join(f"{prefix}{key}" for key in _fields(model))
        return InputError(
            "unknown config key", source=source, field=name, fix=f"Known keys: {known}"
        )
    kind = _kind(_fields(model)[loc[-1]].annotation)
    return InputError(f"expected {kind}", source=source, field=name, value=error["input"])


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by their TOML names, in order."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _kind(annotation: Any) -> str:
    """What a TOML value of this type is called in messages: a table, list, str, int..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a table"
    if get_origin(annotation) is tuple:
        return "list"
    return str(annotation.__name__)


def check_rules(settings: Settings) -> None:
    """Every value in range, finite and supported (the first failure, in a fixed order)."""
    settings.pipeline.check_choices()
    data = settings.model_dump()
    check_finite(data)
    settings.output.check()
    settings.pipeline.check_runner()
    for section, key, lo, hi in RANGES:
        if not lo <= data[section][key] <= hi:
            raise InputError(
                f"must be between {lo} and {hi}",
                field=f"{section}.{key}",
                value=data[section][key],
            )
    settings.quality.weights.check()


def check_finite(data: Mapping[str, Any], prefix: str = "") -> None:
    """Every number of a settings dict is finite (nan and inf pass every range check)."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            check_finite(value, name + ".")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError("must be a finite number", field=name, value=value)
