"""`scoreflow server start|stop|status`: a Prefect server kept running, so runs start at
once."""

from __future__ import annotations

import argparse

from scoreflow.flows.cli.options import Handler, Subparsers, command


def _add_server(sub: Subparsers) -> None:
    srv = command(sub, "server", "a Prefect server kept running, so runs start at once")
    srv.add_argument("action", choices=("start", "stop", "status"), help="what to do")
    srv.add_argument("--port", type=int, default=4200, help="port on 127.0.0.1 (start)")


def _server(args: argparse.Namespace) -> int:
    """0, or for `status` 3 when no server is running."""
    from scoreflow.flows import server

    if args.action == "start":
        record = server.start(port=args.port)
        print(f"Prefect server running: {record['api_url'].removesuffix('/api')} "
              f"(pid {record['pid']}, log {record['log']}); runs use it until "
              "`scoreflow server stop`")  # fmt: skip
    elif args.action == "stop":
        print("stopped" if server.stop() else "no scoreflow server was running")
    else:
        running = server.status()
        print(f"running: {running['api_url']} (pid {running['pid']})" if running else "not running")
        return 0 if running else 3
    return 0


COMMANDS: dict[str, Handler] = {"server": _server}


def add_parsers(sub: Subparsers, *names: str) -> None:
    """Add `scoreflow server` to `sub`."""
    _add_server(sub)
