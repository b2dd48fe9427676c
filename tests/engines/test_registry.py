"""The engine registry is the one list of engines: the CLI's choices and the README's table
are read against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoreflow.config import load_settings
from scoreflow.tasks.engines import BACKENDS, REGISTRY, get_backend
from scoreflow.tasks.errors import InputError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_registry():
    text = README.read_text()
    block = text[text.index("| engine | what it is |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", block, flags=re.M)
    assert rows == [(spec.name, spec.summary) for spec in REGISTRY.values()]
    assert tuple(REGISTRY) == BACKENDS


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_class_is_importable_and_builds_from_settings(name):
    cls = REGISTRY[name].load()
    assert callable(getattr(cls, "from_config", None)), name


def test_an_unknown_engine_names_the_field_and_the_choices():
    settings = load_settings()
    unknown = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"backend": "theremin"})}
    )
    with pytest.raises(InputError) as caught:
        get_backend(unknown)
    assert caught.value.field == "pipeline.backend" and caught.value.value == "theremin"
    assert all(name in str(caught.value) for name in REGISTRY)
