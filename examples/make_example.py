"""Make the bundled example video: about a minute of test picture at 23.976 fps with a
quiet dialogue-like track. Its shot list is examples/shots.csv.

    python examples/make_example.py [OUT.mp4]
"""

from __future__ import annotations

import sys
from pathlib import Path

from scoreflow.tasks.audio.media import describe, generate_video, probe

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "build" / "example.mp4"
    if not out.exists():
        generate_video(out, seconds=60, rate="24000/1001")
    print(f"example video: {out} ({describe(probe(out))})")


if __name__ == "__main__":
    main()
