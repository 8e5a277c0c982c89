"""The query log, the feedback and the sessions: one Store, two backends.

FAQBOT_DB is a SQLite file (the default: nothing to install or start) or a `postgresql://` URL,
for several processes or machines that serve one site and must share one report and one set of
sessions. User data: never inside index/, never lost by a rebuild.

Store holds the SQL, written once for both backends (`?` placeholders; the PostgreSQL backend
turns them into psycopg's `%s`). A backend only opens connections, runs statements, wraps them in
a transaction and applies its versioned migrations (table `schema_version`, one row per applied
version), so every process that opens a database brings its schema up to date, one at a time.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

from faqbot.errors import FaqbotError

Rows = list[dict[str, Any]]
Execute = Callable[..., Rows]

# ---- SQLite ------------------------------------------------------------------------------------

SQLITE_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,  # the schema from before versioning, so an existing file passes through it unharmed
        """
        CREATE TABLE IF NOT EXISTS queries (
            query_id    TEXT PRIMARY KEY,
            ts          REAL NOT NULL,
            session_id  TEXT,
            question    TEXT NOT NULL,
            answered    INTEGER NOT NULL,
            doc_id      TEXT,
            chunk_id    TEXT,
            score       REAL,
            took_ms     REAL,
            index_version TEXT
        );
        CREATE INDEX IF NOT EXISTS queries_answered ON queries (answered, question);
        CREATE TABLE IF NOT EXISTS feedback (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            ts          REAL NOT NULL,
            query_id    TEXT NOT NULL,
            helpful     INTEGER NOT NULL,
            comment     TEXT
        );
        CREATE INDEX IF NOT EXISTS feedback_query ON feedback (query_id);
        CREATE INDEX IF NOT EXISTS queries_ts ON queries (ts);
        DELETE FROM feedback WHERE id NOT IN (SELECT max(id) FROM feedback GROUP BY query_id);
        CREATE UNIQUE INDEX IF NOT EXISTS feedback_one_per_query ON feedback (query_id);
        """,
    ),
    (
        2,  # follow-ups by session_id: the conversation's drug, shared by every worker
        """
        CREATE TABLE IF NOT EXISTS sessions (
            session_id  TEXT PRIMARY KEY,
            drug        TEXT NOT NULL,
            expires     REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
        """,
    ),
    (
        3,  # the editors' report links each question to the passage that came closest, shown or withheld
        "ALTER TABLE queries ADD COLUMN closest_chunk_id TEXT;",
    ),
    (
        4,  # a clarifying turn ("which medicine?") is no unanswered question: the report leaves it out
        "ALTER TABLE queries ADD COLUMN clarify INTEGER NOT NULL DEFAULT 0;",
    ),
]

# ---- PostgreSQL --------------------------------------------------------------------------------

POSTGRES_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE queries (
            query_id    TEXT PRIMARY KEY,
            ts          DOUBLE PRECISION NOT NULL,
            session_id  TEXT,
            question    TEXT NOT NULL,
            answered    INTEGER NOT NULL,
            doc_id      TEXT,
            chunk_id    TEXT,
            score       DOUBLE PRECISION,
            took_ms     DOUBLE PRECISION,
            index_version TEXT
        );
        CREATE INDEX queries_answered ON queries (answered, question);
        CREATE INDEX queries_ts ON queries (ts);
        CREATE TABLE feedback (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ts          DOUBLE PRECISION NOT NULL,
            query_id    TEXT NOT NULL,
            helpful     INTEGER NOT NULL,
            comment     TEXT
        );
        CREATE UNIQUE INDEX feedback_one_per_query ON feedback (query_id);
        """,
    ),
    (
        2,
        """
        CREATE TABLE sessions (
            session_id  TEXT PRIMARY KEY,
            drug        TEXT NOT NULL,
            expires     DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX sessions_expires ON sessions (expires);
        """,
    ),
    (3, "ALTER TABLE queries ADD COLUMN closest_chunk_id TEXT;"),
    (4, "ALTER TABLE queries ADD COLUMN clarify INTEGER NOT NULL DEFAULT 0;"),
]
# held while a process migrates, so that replicas starting together apply each migration once
POSTGRES_MIGRATION_LOCK = 0x0FA9B07
# connections each process keeps open at most; the web server's threads queue for them
POSTGRES_POOL_SIZE = 8
# how long a request waits for a connection; after a failure, requests fail at once for POSTGRES_RETRY_S
# (an answer is then given without its log line, and feedback gets a 503 that says to send it again)
POSTGRES_WAIT_S = 3.0
POSTGRES_RETRY_S = 5.0


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """url without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


class Backend(Protocol):
    """What Store needs from a database: statements, transactions, a name for messages."""

    kind: str
    where: str
    concat: str  # the aggregate that joins texts: group_concat or string_agg

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Rows: ...

    def transaction(self) -> Any: ...  # a context manager that yields an Execute

    def write(self, statements: list[tuple[str, tuple[Any, ...]]], durable: bool = True) -> None: ...

    def close(self) -> None: ...


class SQLiteBackend:
    """One SQLite file in WAL mode, shared by every worker process of one machine."""

    kind = "sqlite"
    concat = "group_concat"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._lock = Lock()
        self._conn: sqlite3.Connection | None = None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.row_factory = sqlite3.Row
                self._migrate(conn)
            except (OSError, sqlite3.Error) as exc:
                raise FaqbotError(f"cannot open the database {self.path} ({exc}); set FAQBOT_DB to a writable file") from exc
            self._conn = conn
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process at a time; the others wait (busy_timeout), then find it done
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            _refuse_newer(current, SQLITE_MIGRATIONS, self.where)
            for version, script in SQLITE_MIGRATIONS:
                if version > current:
                    for statement in _statements(script):
                        try:
                            conn.execute(statement)
                        except sqlite3.OperationalError as exc:
                            # a file from the report's first cut, which added closest_chunk_id before versioning did
                            if "duplicate column" not in str(exc):
                                raise
                    conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        with self._lock, self._unavailable():
            return [dict(row) for row in self._connect().execute(sql, params).fetchall()]

    def write(self, statements: list[tuple[str, tuple[Any, ...]]], durable: bool = True) -> None:
        """Statements in one transaction (WAL with synchronous=NORMAL: a killed process loses nothing committed)."""
        with self.transaction() as execute:
            for sql, params in statements:
                execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        with self._lock, self._unavailable():
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, params=(): [dict(row) for row in conn.execute(sql, params).fetchall()]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """A locked, full or vanished database as a FaqbotError that names the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise FaqbotError(f"the database {self.path} cannot be used ({exc}); check the disk and FAQBOT_DB") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresBackend:
    """A PostgreSQL database that every process and machine of a site shares (psycopg 3, a small pool)."""

    kind = "postgresql"
    concat = "string_agg"

    def __init__(self, url: str, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.where = redacted(url)
        self._timeout = connect_timeout_s
        self._lock = Lock()
        self._pool: Any = None
        self._down_until = 0.0
        self._open()

    def _open(self) -> Any:
        if self._pool is not None:
            return self._pool
        with self._lock:
            if self._pool is None:
                import psycopg
                from psycopg.rows import dict_row
                from psycopg_pool import ConnectionPool, PoolTimeout

                try:  # one plain connection first: a wrong URL or a stopped server is told at once, with libpq's reason
                    psycopg.connect(self.url, connect_timeout=max(1, int(self._timeout))).close()
                except psycopg.Error as exc:
                    reason = " ".join(str(exc).split())[:300]
                    raise FaqbotError(
                        f"cannot connect to the database {self.where} ({reason}); check FAQBOT_DB "
                        "(host, port, user, database name) and that PostgreSQL is running"
                    ) from exc

                pool = ConnectionPool(
                    self.url, min_size=1, max_size=POSTGRES_POOL_SIZE, open=False, name="faqbot", timeout=POSTGRES_WAIT_S,
                    kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, int(self._timeout))},
                )  # fmt: skip
                try:
                    pool.open(wait=True, timeout=self._timeout)
                    self._migrate(pool)
                except (PoolTimeout, OSError) as exc:
                    pool.close()
                    raise FaqbotError(
                        f"cannot connect to the database {self.where} within {self._timeout:.0f} s; "
                        "check FAQBOT_DB (host, port, user, database name) and that PostgreSQL is running"
                    ) from exc
                except Exception as exc:
                    pool.close()
                    if isinstance(exc, FaqbotError):
                        raise
                    raise FaqbotError(f"cannot use the database {self.where} ({str(exc).strip()}); check FAQBOT_DB") from exc
                self._pool = pool
        return self._pool

    def _migrate(self, pool: Any) -> None:
        with pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (POSTGRES_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            current = conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_version").fetchone()["v"]
            _refuse_newer(current, POSTGRES_MIGRATIONS, self.where)
            for version, script in POSTGRES_MIGRATIONS:
                if version > current:
                    for statement in _statements(script):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (%s, %s)", (version, time.time()))

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        with self._unavailable(), self._open().connection() as conn:
            cursor = conn.execute(self._sql(sql), params)
            return list(cursor.fetchall()) if cursor.description else []

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """A server that went away (or no free connection in time) as a FaqbotError that names the database."""
        from psycopg import OperationalError
        from psycopg_pool import PoolTimeout

        if time.monotonic() < self._down_until:  # failed a moment ago: fail at once instead of waiting again
            raise FaqbotError(f"the database {self.where} could not be reached a moment ago; retrying in a few seconds")
        try:
            yield
        except (OperationalError, PoolTimeout) as exc:
            self._down_until = time.monotonic() + POSTGRES_RETRY_S
            raise FaqbotError(f"the database {self.where} cannot be reached ({str(exc).strip()[:200]}); "
                              "check that PostgreSQL is running and FAQBOT_DB") from exc  # fmt: skip

    def write(self, statements: list[tuple[str, tuple[Any, ...]]], durable: bool = True) -> None:
        """Statements in one transaction, sent together in one round trip (pipeline mode). durable=False commits
        without waiting for the disk: a crash of the database server (never of a faqbot process) may lose the
        last fraction of a second of such writes."""
        with self._unavailable(), self._open().connection() as conn, conn.pipeline(), conn.transaction():
            if not durable:
                conn.execute("SET LOCAL synchronous_commit TO off")
            for sql, params in statements:
                conn.execute(self._sql(sql), params)

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        with self._unavailable(), self._open().connection() as conn, conn.transaction():

            def run(sql: str, params: tuple[Any, ...] = ()) -> Rows:
                cursor = conn.execute(self._sql(sql), params)
                return list(cursor.fetchall()) if cursor.description else []

            yield run

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _refuse_newer(current: int, migrations: list[tuple[int, str]], where: str) -> None:
    known = max(version for version, _ in migrations)
    if current > known:
        raise FaqbotError(
            f"the database {where} has schema version {current}, newer than this faqbot knows ({known}); "
            "upgrade faqbot on this machine, or point FAQBOT_DB at another database"
        )


def open_backend(target: str | Path) -> Backend:
    if is_postgres_url(target):
        return PostgresBackend(str(target))
    return SQLiteBackend(Path(target))


class Store:
    """The query log, the feedback and the follow-up sessions, in SQLite or PostgreSQL (see open_backend)."""

    def __init__(self, target: str | Path) -> None:
        self.backend = open_backend(target)
        self.path = target  # what FAQBOT_DB said: a file or a URL

    @property
    def kind(self) -> str:
        return self.backend.kind

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        return self.backend.execute(sql, params)

    def log_query(self, response: dict[str, Any], question: str, session_drug: str | None = None,
                  session_ttl_s: float | None = None) -> None:  # fmt: skip
        """Log one answer; with session_drug and session_ttl_s, also remember the drug of its session_id."""
        answer = response.get("answer") or {}
        drug = response.get("drug") or {}
        # the passage that came closest, shown or withheld: what the editors' report links a gap to
        closest = answer or next(iter(response.get("alternatives") or []), None) or {}
        now = time.time()
        statements = [
            (
                "INSERT INTO queries (query_id, ts, session_id, question, answered, doc_id, chunk_id, score, took_ms, "
                "index_version, closest_chunk_id, clarify) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (query_id) DO UPDATE "
                "SET ts = excluded.ts, session_id = excluded.session_id, question = excluded.question, "
                "answered = excluded.answered, doc_id = excluded.doc_id, chunk_id = excluded.chunk_id, "
                "score = excluded.score, took_ms = excluded.took_ms, index_version = excluded.index_version, "
                "closest_chunk_id = excluded.closest_chunk_id, clarify = excluded.clarify",
                (
                    response["query_id"],
                    now,
                    response.get("session_id"),
                    question,
                    int(bool(response.get("answered"))),
                    drug.get("doc_id"),
                    answer.get("chunk_id"),
                    answer.get("score"),
                    response.get("took_ms"),
                    response.get("index_version"),
                    closest.get("chunk_id"),
                    int(bool(response.get("clarify"))),
                ),
            )
        ]
        if session_drug is not None and session_ttl_s is not None and response.get("session_id"):
            statements.append(self._session_row(response["session_id"], session_drug, now + session_ttl_s))
        # the log line need not wait for the disk (feedback does): on PostgreSQL that saves a WAL flush per answer
        self.backend.write(statements, durable=False)

    @staticmethod
    def _session_row(session_id: str, drug: str, expires: float) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO sessions (session_id, drug, expires) VALUES (?,?,?) "
            "ON CONFLICT (session_id) DO UPDATE SET drug = excluded.drug, expires = excluded.expires",
            (session_id, drug, expires),
        )

    def set_session(self, session_id: str, drug: str, ttl_s: float, now: float | None = None) -> None:
        """Remember the drug a conversation is about, until ttl_s from now."""
        self.backend.write([self._session_row(session_id, drug, (time.time() if now is None else now) + ttl_s)], durable=False)

    def get_session(self, session_id: str, now: float | None = None) -> str | None:
        """The drug of a conversation, or None when it has none or has expired."""
        rows = self._execute(
            "SELECT drug FROM sessions WHERE session_id = ? AND expires >= ?", (session_id, time.time() if now is None else now)
        )
        return str(rows[0]["drug"]) if rows else None

    def has_query(self, query_id: str) -> bool:
        return bool(self._execute("SELECT 1 AS found FROM queries WHERE query_id = ?", (query_id,)))

    def add_feedback(self, query_id: str, helpful: bool, comment: str | None) -> int:
        """Store a click on an answer; a later click on the same answer replaces the earlier one."""
        rows = self._execute(
            "INSERT INTO feedback (ts, query_id, helpful, comment) VALUES (?,?,?,?) ON CONFLICT (query_id) DO UPDATE "
            "SET ts = excluded.ts, helpful = excluded.helpful, comment = excluded.comment RETURNING id",
            (time.time(), query_id, int(helpful), comment),
        )
        return int(rows[0]["id"])

    def purge(self, days: float, now: float | None = None) -> int:
        """Delete questions and feedback older than days, and expired sessions; returns how many log rows went."""
        now = time.time() if now is None else now
        cutoff = now - days * 86400
        with self.backend.transaction() as execute:
            gone = execute("DELETE FROM feedback WHERE ts < ? OR query_id IN (SELECT query_id FROM queries WHERE ts < ?) "
                           "RETURNING id", (cutoff, cutoff))  # fmt: skip
            gone += execute("DELETE FROM queries WHERE ts < ? RETURNING query_id", (cutoff,))
            execute("DELETE FROM sessions WHERE expires < ?", (now,))
        return len(gone)

    def feedback(self) -> list[dict[str, Any]]:
        return self._execute("SELECT * FROM feedback ORDER BY id")

    def report_rows(self, since: float) -> list[dict[str, Any]]:
        """Every question asked since `since` (epoch seconds), oldest first, with its feedback if any.

        For the editors' report (faqbot.report), which does the grouping.
        """
        return self._execute(
            "SELECT q.query_id AS query_id, q.ts AS ts, q.question AS question, q.answered AS answered, q.doc_id AS doc_id, "
            "q.chunk_id AS chunk_id, q.closest_chunk_id AS closest_chunk_id, q.clarify AS clarify, f.helpful AS helpful, "
            "f.comment AS comment "
            "FROM queries q LEFT JOIN feedback f ON f.query_id = q.query_id WHERE q.ts >= ? ORDER BY q.ts",
            (since,),
        )

    def gap_report(self, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
        """What users asked that the pages do not answer, and the answers they found unhelpful."""
        unanswered = self._execute(
            "SELECT lower(question) AS question, count(*) AS count, max(ts) AS last FROM queries WHERE answered = 0 "
            "GROUP BY lower(question) ORDER BY count(*) DESC, max(ts) DESC LIMIT ?",
            (limit,),
        )
        unhelpful = self._execute(
            "SELECT q.question AS question, q.chunk_id AS chunk_id, q.answered AS answered, count(*) AS count, "
            f"{self.backend.concat}(f.comment, ' | ') AS comments FROM feedback f JOIN queries q ON q.query_id = f.query_id "
            "WHERE f.helpful = 0 GROUP BY q.question, q.chunk_id, q.answered ORDER BY count(*) DESC, max(f.ts) DESC LIMIT ?",
            (limit,),
        )
        return {"unanswered": unanswered, "unhelpful": unhelpful}

    def question_count(self) -> int:
        """How many questions the log holds (every process's, when they share the database)."""
        return int(self._execute("SELECT count(*) AS n FROM queries")[0]["n"])

    def close(self) -> None:
        """Close the connection(s); a later call opens them again (an app can be started twice)."""
        self.backend.close()
