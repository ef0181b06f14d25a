"""Readers' verdicts on answers (有用 / 没用, an optional comment), kept in SQLite beside the index.

The file `feedback.sqlite3` lives in the index folder, outside its `builds/`, so a rebuild never touches
it. Each call opens its own connection (SQLite serialises the writes), so the store is safe to share
between threads. A record is checked before it is written: a bad one raises `ValueError` and the table
is left as it was. `export_jsonl` writes the rows in the dev-set format `qa eval` reads, so a reported
answer becomes a dev case once a person has corrected it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

FEEDBACK_FILE = "feedback.sqlite3"
Record = dict[str, Any]
Records = list[Record]  # named here: inside FeedbackStore, `list` is the method
VERDICTS = ("useful", "not_useful")
MAX_COMMENT_CHARS = 2000
# Far above any real answer (questions stop at QA_MAX_QUESTION_CHARS, 2,000 by default; an answer quotes
# at most 3 passages), and small enough that a body with one field over its limit, at 12 bytes a
# character (JSON escapes of astral characters), still fits the API's 64 KB: a 422, not a 413.
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 4000
MAX_SHORT_ANSWER_CHARS = 500
MAX_QUOTE_CHARS = 1000
MAX_CITATIONS = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    question TEXT NOT NULL,
    resolved_question TEXT,
    answer TEXT NOT NULL,
    short_answer TEXT,
    citations TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT NOT NULL,
    session_id TEXT
)
"""
_COLUMNS = (
    "id",
    "time",
    "question",
    "resolved_question",
    "answer",
    "short_answer",
    "citations",
    "verdict",
    "comment",
    "session_id",
)


def feedback_path(index_dir: Path) -> Path:
    """Where the feedback of the index in `index_dir` is kept."""
    return Path(index_dir) / FEEDBACK_FILE


def _text(record: dict[str, Any], key: str, *, required: bool, limit: int) -> str | None:
    """The string field `key` of `record`, checked; None when optional and absent."""
    value = record.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if required and not value.strip():
        raise ValueError(f"{key} is empty")
    if len(value) > limit:
        raise ValueError(f"{key} is too long: at most {limit} characters")
    return value


def _citations(value: Any) -> list[dict[str, Any]]:
    """The citations of a record as plain dicts {article_id, start, end, quote}, checked."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CITATIONS:
        raise ValueError(f"citations must be a list of at most {MAX_CITATIONS}")
    cleaned = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("each citation must be an object")
        article_id, start, end = item.get("article_id"), item.get("start"), item.get("end")
        quote = item.get("quote") or ""
        if not isinstance(article_id, str) or not article_id or len(article_id) > 200:
            raise ValueError("a citation's article_id must be a string of 1 to 200 characters")
        for number in (start, end):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise ValueError("a citation's start and end must be integers >= 0")
        if end < start:
            raise ValueError("a citation's end must not be before its start")
        if not isinstance(quote, str) or len(quote) > MAX_QUOTE_CHARS:
            raise ValueError("a citation's quote must be a string")
        cleaned.append({"article_id": article_id, "start": start, "end": end, "quote": quote})
    return cleaned


def validate(record: dict[str, Any]) -> dict[str, Any]:
    """The row to store for `record`, or ValueError saying what is wrong with it."""
    verdict = record.get("verdict")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    comment = _text(record, "comment", required=False, limit=MAX_COMMENT_CHARS) or ""
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "question": _text(record, "question", required=True, limit=MAX_QUESTION_CHARS),
        "resolved_question": _text(record, "resolved_question", required=False, limit=MAX_QUESTION_CHARS),
        "answer": _text(record, "answer", required=True, limit=MAX_ANSWER_CHARS),
        "short_answer": _text(record, "short_answer", required=False, limit=MAX_SHORT_ANSWER_CHARS),
        "citations": _citations(record.get("citations")),
        "verdict": verdict,
        "comment": comment,
        "session_id": _text(record, "session_id", required=False, limit=64),
    }


def to_dev_case(row: dict[str, Any]) -> dict[str, Any]:
    """One stored record as a dev-set row: `answers` holds the short answer only when it was useful."""
    useful = row["verdict"] == "useful"
    short = row.get("short_answer")
    return {
        "id": f"feedback-{row['id']}",
        "question": row["question"],
        "answers": [short] if useful and short else [],
        "verdict": row["verdict"],
        "comment": row["comment"],
        "resolved_question": row["resolved_question"],
        "answer": row["answer"],
        "citations": row["citations"],
        "time": row["time"],
    }


class FeedbackStore:
    """Feedback records in one SQLite file; the table is created when missing."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute(_SCHEMA)

    @classmethod
    def beside(cls, index_dir: Path) -> FeedbackStore:
        """The store of the index in `index_dir`."""
        return cls(feedback_path(index_dir))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per call, committed on success, always closed."""
        with closing(sqlite3.connect(self.path, timeout=30)) as connection, connection:
            yield connection

    def add(self, record: dict[str, Any]) -> int:
        """Check `record` and store it; its new id. A bad record raises ValueError and stores nothing."""
        row = validate(record)
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        names = [c for c in _COLUMNS if c != "id"]
        with self._connect() as connection:
            cursor = connection.execute(
                f"INSERT INTO feedback ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                [row[name] for name in names],
            )
            return int(cursor.lastrowid or 0)

    def count(self) -> int:
        """How many records are stored."""
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def list(self, limit: int = 50, offset: int = 0) -> Records:
        """At most `limit` records after skipping `offset`, newest first."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM feedback ORDER BY id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [self._record(row) for row in rows]

    def all(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first."""
        with self._connect() as connection:
            rows = connection.execute(f"SELECT {', '.join(_COLUMNS)} FROM feedback ORDER BY id").fetchall()
        for row in rows:
            yield self._record(row)

    def export_jsonl(self, handle: TextIO) -> int:
        """Write every record, oldest first, as one dev-set JSON object per line; how many were written."""
        written = 0
        for record in self.all():
            handle.write(json.dumps(to_dev_case(record), ensure_ascii=False) + "\n")
            written += 1
        return written

    @staticmethod
    def _record(row: tuple[Any, ...]) -> dict[str, Any]:
        """A table row as a dict, citations parsed."""
        record = dict(zip(_COLUMNS, row, strict=True))
        record["citations"] = json.loads(record["citations"])
        return record
