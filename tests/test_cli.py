import subprocess
import sys

import pytest

from flows.cli import main


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, check=False
    )


def test_check_prints_scenes(tmp_path, video_25, capsys):
    shots = tmp_path / "s.csv"
    shots.write_text("scene,tc_in,tc_out,description\n1,0,4,rock\n2,4,6,calm piano\n")
    assert main(["check", "--shots", str(shots), "--video", str(video_25)]) == 0
    out = capsys.readouterr().out
    assert "OK: 2 scenes, 2 with music" in out and "rock/" in out and "25 fps" in out


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (
            ["check", "--fps", "25"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n2,3,6,b\n",
            "overlaps scene '1'",
        ),
        (
            ["check", "--fps", "26"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "unknown frame rate",
        ),
        (
            ["score", "VIDEO", "--out", "OUT"],
            "scene,tc_in,tc_out,description\n1,0,40,a\n",
            "past the end of the video",
        ),
        (
            ["score", "VIDEO", "--out", "OUT", "--preset", "loud"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "unknown loudness preset",
        ),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path, video_25, args, content, expected):
    shots = tmp_path / "s.csv"
    shots.write_text(content)
    args = [
        str(video_25) if a == "VIDEO" else str(tmp_path / "o") if a == "OUT" else a for a in args
    ]
    proc = run(*args, "--shots", str(shots))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert str(shots) in proc.stderr or "frame rate" in proc.stderr or "preset" in proc.stderr
    assert not (tmp_path / "o").exists()
