"""What the server and browser tests share: a real uvicorn on loopback, and Debian's chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium, or a skip (a failure when FAQBOT_REQUIRE_BROWSER=1, as in CI)."""
    path = shutil.which("chromium")
    if path is None:
        message = "no `chromium` on PATH; install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("FAQBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FAQBOT_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    return path


@contextmanager
def serve(app: Any, start_timeout_s: float = 120.0) -> Iterator[str]:
    """Run app under uvicorn on a free 127.0.0.1 port in a thread; yield its base URL.

    The socket is bound before uvicorn starts, so no other process can take the port in between.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    from faqbot.serving import server_config
    from faqbot.settings import Settings

    # the configuration `faqbot serve` runs, connection limits included, with the app's own settings
    settings = getattr(getattr(app, "state", None), "settings", None) or Settings()
    server = uvicorn.Server(server_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:  # lifespan loads the index and the model first
        if not thread.is_alive():
            raise RuntimeError("the faqbot server stopped while starting; see the captured log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the faqbot server did not start within {start_timeout_s:.0f} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
