"""What the server and browser tests share: a real uvicorn on loopback (in a thread, or `faqbot serve` in a
subprocess), and Debian's chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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
def chromium() -> Iterator[Browser]:
    """Debian's chromium launched headless under Playwright (or a skip, as chromium_path says); closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    """One `faqbot serve` subprocess (with --workers N, a supervisor and N worker processes)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        # uvicorn's workers, not multiprocessing's resource tracker
        return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


@contextmanager
def faqbot_serve(env: Mapping[str, str], folder: Path, workers: int = 1, start_timeout_s: float = 90.0) -> Iterator[ServeProcess]:
    """`faqbot serve --workers N` on a free port, run in folder with env as its whole environment; yield it once it answers.

    No --host: the default must be loopback. Its output goes to folder/serve-<port>.log, whose tail a failed start
    shows. With workers > 1 it is yielded once every worker has loaded the index. Stopped (SIGTERM, then SIGKILL) on exit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "faqbot.cli", "serve", "--port", str(port), "--workers", str(workers)],
            env=dict(env), cwd=folder, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        served = ServeProcess(url, port, process, log_path)
        try:
            deadline = time.monotonic() + start_timeout_s
            while True:
                assert process.poll() is None, f"faqbot serve exited: {log_path.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"faqbot serve did not answer /healthz within {start_timeout_s:.0f} s"
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200 and (workers == 1 or len(served.workers()) >= workers):
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            if workers > 1:  # every worker has loaded the index: each answers /healthz only once it has
                for _ in range(workers * 10):
                    httpx.get(f"{url}/healthz", timeout=10)
            yield served
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
