"""The terminal progress: plain lines into a pipe, a redrawn bar with an ETA on a TTY."""

import io

from scoreflow.flows import progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    term = progress.Terminal(out)
    term.stage(3, 8, "generating 3 cues with composer")
    term.count("cues", 3)
    for name in ("1", "2", "4"):
        term.advance(name)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[3/8] generating 3 cues with composer"
    assert lines[1].startswith("      cues 1/3 (1) ETA ")
    assert lines[3].startswith("      cues 3/3 (4) in 0:0")
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_one_redrawn_bar():
    out = FakeTTY()
    term = progress.Terminal(out)
    term.count("cues", 4)
    for _ in range(4):
        term.advance()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "[" + "#" * 12 + "." * 12 + "] 2/4 ETA" in text
    assert "[" + "#" * 24 + "] 4/4 in" in text


def test_the_flow_reports_only_where_a_terminal_is_installed():
    out = io.StringIO()
    progress.stage(1, 8, "unseen")
    with progress.report_to(progress.Terminal(out)):
        progress.stage(1, 8, "probing")
        progress.detail("25 fps")
    progress.stage(2, 8, "unseen")
    assert out.getvalue() == "[1/8] probing\n      25 fps\n"
