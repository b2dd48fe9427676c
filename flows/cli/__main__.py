"""``python -m scoreflow.flows.cli``: the ``scoreflow`` command."""

import sys

from scoreflow.flows.cli import main

sys.exit(main())
