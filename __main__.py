"""``python -m scoreflow``: the ``scoreflow`` command."""

from scoreflow.flows.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
