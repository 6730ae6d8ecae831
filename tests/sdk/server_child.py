"""Child process of the ``served`` fixtures: serve the app on an inherited listening socket.

Usage: ``python -m tests.sdk.server_child FD OVERRIDES_JSON``. A separate process keeps the
server's log lines out of the CLI output that click's runner captures.
"""

from __future__ import annotations

import socket
import sys

import msgspec
import uvicorn

from app.main import create_app
from app.settings import load_settings


def main() -> None:
    """Serve until SIGTERM."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    settings = load_settings(environ={}, overrides=msgspec.json.decode(sys.argv[2]))
    config = uvicorn.Config(create_app(settings), lifespan="on", log_level="error",
                            ws="websockets-sansio", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
