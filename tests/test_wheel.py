"""faqbot as a wheel: built, installed into a fresh virtual environment, serving the chat page and /ask.

Nothing of the repository is on that environment's path: templates, static files, word lists and
the fitted model must all come from inside the installed package.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import DATA, REPO
from tests.support import free_port


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout

def test_wheel_installs_and_serves_from_a_fresh_environment(tmp_path: Path) -> None:
    source = tmp_path / "source"  # built from a copy: a build writes build/ and egg-info beside the sources
    for name in ("src", "web", "models"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("faqbot-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    # the dependencies (torch and all) come from this environment's site-packages, not faqbot itself:
    # a path line in a .pth does not run that folder's own .pth files, so the editable install stays out
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    work = tmp_path / "elsewhere"  # no data/, web/ or models/ in the working folder
    work.mkdir()
    where = _run(python, "-c", "import faqbot, faqbot.model as m; print(faqbot.__file__); print(m.Model.load().fitted_on)", cwd=work)
    module_file, fitted_on = where.splitlines()
    assert module_file.startswith(str(venv)), f"faqbot was imported from {module_file}, not from the wheel"
    assert fitted_on.startswith("dev split"), f"the wheel's fitted model did not load: {fitted_on}"

    shutil.copytree(DATA, work / "data")
    port = free_port()
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "FAQBOT_MODEL": "hashing-256", "FAQBOT_DATA_DIR": str(work / "data"),
        "FAQBOT_INDEX_DIR": str(work / "index"), "FAQBOT_DB": str(work / "var" / "faqbot.sqlite3"),
    }  # fmt: skip
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen(
        [venv / "bin" / "faqbot", "serve", "--port", str(port)], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"faqbot serve stopped:\n{server.stdout.read() if server.stdout else ''}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "faqbot serve from the wheel did not come up in 180 s"
            time.sleep(0.5)
        chat = httpx.get(f"{base}/")
        assert chat.status_code == 200 and "<form" in chat.text, "the chat page is missing from the wheel"
        script = httpx.get(f"{base}/static/chat.js")
        assert script.status_code == 200 and "fetch" in script.text, "the chat page's script is missing from the wheel"
        answer = httpx.post(f"{base}/ask", json={"question": "can I drink alcohol with warfarin"}).json()
        passage = answer["answer"] or answer["alternatives"][0]
        assert passage["doc_id"] == "warfarin"
        page = httpx.get(f"{base}{passage['url'].split('#')[0]}")
        assert page.status_code == 200 and passage["url"].split("#")[1] in page.text
    finally:
        server.terminate()
        server.wait(timeout=30)
