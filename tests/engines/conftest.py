"""Fixtures of the engine tests."""

import pytest


@pytest.fixture
def check_cli(tmp_path, capsys):
    """``scoreflow check`` of a one-scene shot list with a backend and a model: a function
    of (backend, model) that returns the exit code and what was printed on stderr."""

    def run(backend, model):
        from scoreflow.flows.cli import main

        shots = tmp_path / "s.csv"
        shots.write_text("scene,tc_in,tc_out,description\n1,0,4,rock\n")
        args = ["check", "--shots", str(shots), "--fps", "25", "--backend", backend]
        code = main([*args, "--model", model])
        return code, capsys.readouterr().err

    return run
