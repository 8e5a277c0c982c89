"""SQLite: the query log and the feedback. User data: never inside index/, never lost by a rebuild."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from threading import Lock
from typing import Any

from faqbot.errors import FaqbotError

SCHEMA = """
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
    index_version TEXT,
    closest_chunk_id TEXT
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
"""
# one feedback per query: a database from before keeps each query's latest click, then the index holds it to one
ONE_FEEDBACK_PER_QUERY = """
DELETE FROM feedback WHERE id NOT IN (SELECT max(id) FROM feedback GROUP BY query_id);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_one_per_query ON feedback (query_id);
"""


class Store:
    """One SQLite file in WAL mode, shared by every worker process of the server."""

    def __init__(self, path: Path) -> None:
        self.path = path
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
                conn.executescript(SCHEMA)
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'feedback_one_per_query'").fetchone():
                    conn.executescript(f"BEGIN IMMEDIATE; {ONE_FEEDBACK_PER_QUERY} COMMIT;")
                if "closest_chunk_id" not in {row[1] for row in conn.execute("PRAGMA table_info(queries)")}:
                    try:  # a database from before the grouped report: the column is added, old rows have none
                        conn.execute("ALTER TABLE queries ADD COLUMN closest_chunk_id TEXT")
                    except sqlite3.OperationalError as exc:
                        if "duplicate column" not in str(exc):  # another worker added it just now
                            raise
            except (OSError, sqlite3.Error) as exc:
                raise FaqbotError(f"cannot open the database {self.path} ({exc}); set FAQBOT_DB to a writable file") from exc
            conn.row_factory = sqlite3.Row
            self._conn = conn
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connect().execute(sql, params).fetchall()

    def log_query(self, response: dict[str, Any], question: str) -> None:
        answer = response.get("answer") or {}
        drug = response.get("drug") or {}
        # the passage that came closest, shown or withheld: what the editors' report links a gap to
        closest = answer or next(iter(response.get("alternatives") or []), None) or {}
        self._execute(
            "INSERT OR REPLACE INTO queries (query_id, ts, session_id, question, answered, doc_id, chunk_id, score, took_ms, "
            "index_version, closest_chunk_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                response["query_id"],
                time.time(),
                response.get("session_id"),
                question,
                int(bool(response.get("answered"))),
                drug.get("doc_id"),
                answer.get("chunk_id"),
                answer.get("score"),
                response.get("took_ms"),
                response.get("index_version"),
                closest.get("chunk_id"),
            ),
        )

    def has_query(self, query_id: str) -> bool:
        return bool(self._execute("SELECT 1 FROM queries WHERE query_id = ?", (query_id,)))

    def add_feedback(self, query_id: str, helpful: bool, comment: str | None) -> int:
        """Store a click on an answer; a later click on the same answer replaces the earlier one."""
        rows = self._execute(
            "INSERT INTO feedback (ts, query_id, helpful, comment) VALUES (?,?,?,?) ON CONFLICT (query_id) DO UPDATE "
            "SET ts = excluded.ts, helpful = excluded.helpful, comment = excluded.comment RETURNING id",
            (time.time(), query_id, int(helpful), comment),
        )
        return int(rows[0]["id"])

    def purge(self, days: float, now: float | None = None) -> int:
        """Delete questions and feedback older than days; returns how many rows went."""
        cutoff = (time.time() if now is None else now) - days * 86400
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = conn.execute("DELETE FROM feedback WHERE ts < ? OR query_id IN "
                                    "(SELECT query_id FROM queries WHERE ts < ?)", (cutoff, cutoff)).rowcount  # fmt: skip
                gone += conn.execute("DELETE FROM queries WHERE ts < ?", (cutoff,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return gone

    def feedback(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._execute("SELECT * FROM feedback ORDER BY id")]

    def report_rows(self, since: float) -> list[dict[str, Any]]:
        """Every question asked since `since` (epoch seconds), oldest first, with its feedback if any.

        For the editors' report (faqbot.report), which does the grouping.
        """
        rows = self._execute(
            "SELECT q.query_id AS query_id, q.ts AS ts, q.question AS question, q.answered AS answered, q.doc_id AS doc_id, "
            "q.chunk_id AS chunk_id, q.closest_chunk_id AS closest_chunk_id, f.helpful AS helpful, f.comment AS comment "
            "FROM queries q LEFT JOIN feedback f ON f.query_id = q.query_id WHERE q.ts >= ? ORDER BY q.ts",
            (since,),
        )
        return [dict(r) for r in rows]

    def gap_report(self, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
        """What users asked that the pages do not answer, and the answers they found unhelpful."""
        unanswered = self._execute(
            "SELECT lower(question) AS question, count(*) AS count, max(ts) AS last FROM queries WHERE answered = 0 "
            "GROUP BY lower(question) ORDER BY count DESC, last DESC LIMIT ?",
            (limit,),
        )
        unhelpful = self._execute(
            "SELECT q.question AS question, q.chunk_id AS chunk_id, q.answered AS answered, count(*) AS count, "
            "group_concat(f.comment, ' | ') AS comments FROM feedback f JOIN queries q ON q.query_id = f.query_id "
            "WHERE f.helpful = 0 GROUP BY q.question, q.chunk_id, q.answered ORDER BY count DESC, max(f.ts) DESC LIMIT ?",
            (limit,),
        )
        return {"unanswered": [dict(r) for r in unanswered], "unhelpful": [dict(r) for r in unhelpful]}

    def close(self) -> None:
        """Close the connection; a later call opens it again (an app can be started twice)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
