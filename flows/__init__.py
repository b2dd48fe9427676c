"""Prefect flows and the `scoreflow` command.

Importing them turns Prefect's telemetry off (the server's analytics and the client's usage
data): scoreflow uses no network at run time. Either can be set otherwise beforehand.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
