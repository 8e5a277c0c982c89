"""A throwaway PostgreSQL server for the tests and the benchmark: Debian's binaries, no container.

How it starts: `initdb` into a fresh temporary folder, then `pg_ctl start` with the server
listening on a Unix socket in that folder only (no TCP port, so nothing else on the machine can
reach it or clash with it). PostgreSQL refuses to run as root, so as root both run as the
`postgres` user (which Debian's postgresql package creates) through `runuser`, in a folder under
/tmp that this user owns (pytest's own tmp folders are private to root). `stop()` shuts the server
down at once and removes the folder.

Missing binaries skip the tests that need a server, saying what to install; with
FAQBOT_REQUIRE_POSTGRES=1 (as in CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = "install Debian's postgresql package (apt-get install postgresql); scripts/test.sh does so when run as root"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def runuser() -> str | None:
    """util-linux's runuser (often in sbin, which a non-login PATH may leave out)."""
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None when one can."""
    if find_binaries() is None:
        return f"PostgreSQL binaries (initdb, pg_ctl) not found; {INSTALL_HINT}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as; " + INSTALL_HINT
        if runuser() is None:
            return "running as root and `runuser` (util-linux) is missing to start PostgreSQL as the postgres user"
    return None


class PostgresServer:
    """One running server; `url(name)` gives a psycopg/faqbot URL for a database in it."""

    def __init__(self, fsync: bool = False) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.bin = find_binaries()
        assert self.bin is not None
        self.root = Path(tempfile.mkdtemp(prefix="faqbot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = [str(runuser()), "-u", "postgres", "--"]
        self.user = pwd.getpwuid(os.geteuid()).pw_name if not self._as_user else "postgres"
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.root}' -c max_connections=200"
        if not fsync:  # the tests kill faqbot processes, never the database server: durability of its disk is not under test
            options += " -c fsync=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")
        except RuntimeError:
            self.stop()
            raise
        self._databases = 0

    def _run(self, program: str, *args: str) -> None:
        assert self.bin is not None
        done = subprocess.run([*self._as_user, str(self.bin / program), *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text()[-1500:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-1500:]} {log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={self.root}"

    def new_database(self) -> str:
        """A URL for a fresh, empty database of its own."""
        import psycopg

        self._databases += 1
        name = f"faqbot_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already gone
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
