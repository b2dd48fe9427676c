"""The one exception tree of scoreflow.

Every message names where the problem is (file, line or scene), the field, the value,
and what would be valid, so that the CLI can print it as it is, without a traceback::

    ScoreflowError                 anything scoreflow raises on purpose (CLI exit 1)
    ├── InputError                 bad user input: shot list, timecode, media, config (exit 2)
    │   └── MissingModelError      a model that is not there (also a BackendError)
    ├── BackendError               a music engine failed
    ├── StorageError               reading or writing a file or object failed
    │   └── TransientStorageError  ... in a way a later attempt may not: retried
    ├── DeliveryError              writing the deliverables failed
    ├── ToolError                  an external program (ffmpeg, the Prefect server) failed
    └── MalformedEvent             a queue message that is no storage notification at all
"""

from __future__ import annotations


class ScoreflowError(Exception):
    """Base of every error scoreflow raises on purpose."""


class InputError(ScoreflowError):
    """Bad user input: shot list, timecode, media or config. CLI exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        scene: str | None = None,
        field: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.scene = scene
        self.field = field
        self.value = value
        self.fix = fix
        where = []
        if source:
            where.append(f"{source}:{line}" if line else source)
        elif line:
            where.append(f"line {line}")
        if scene is not None:
            where.append(f"scene {scene!r}")
        if field:
            where.append(f"field {field!r}")
        text = message
        if value is not None:
            text += f" (got {value!r})"
        if fix:
            text += f". {fix}"
        super().__init__(f"{', '.join(where)}: {text}" if where else text)

    def located(
        self,
        *,
        source: str | None = None,
        line: int | None = None,
        scene: str | None = None,
        field: str | None = None,
    ) -> InputError:
        """Return the same error with its location filled in (what is already set wins)."""
        return InputError(
            self.message,
            source=self.source or source,
            line=self.line or line,
            scene=self.scene if self.scene is not None else scene,
            field=self.field or field,
            value=self.value,
            fix=self.fix,
        )

    def renamed(self, old: str, new: str) -> InputError:
        """The same error with a path replaced (a fetched copy -> the URI the user gave)."""

        def swap(text: object) -> object:
            return text.replace(old, new) if isinstance(text, str) else text

        return InputError(
            str(swap(self.message)),
            source=swap(self.source),  # type: ignore[arg-type]
            line=self.line,
            scene=self.scene,
            field=self.field,
            value=swap(self.value),
            fix=swap(self.fix),  # type: ignore[arg-type]
        )


class BackendError(ScoreflowError):
    """A music backend failed: missing model, bad model files, out of memory."""


class MissingModelError(InputError, BackendError):
    """A neural engine's model is not where the settings say (or not downloaded): bad
    input for the CLI (exit 2), a backend error for code that catches those."""


class StorageError(ScoreflowError):
    """Reading or writing a file or object failed."""


class TransientStorageError(StorageError):
    """The storage service failed in a way a later attempt may not: retry it."""


class DeliveryError(ScoreflowError):
    """Writing the deliverables (mux, files) failed."""


class ToolError(ScoreflowError):
    """An external program scoreflow runs (ffmpeg, the Prefect server) failed; the message
    holds the end of its output."""


class MalformedEvent(ScoreflowError):
    """A queue message that is not a storage notification at all (it never will be one)."""
