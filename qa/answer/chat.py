"""Chat sessions and follow-up resolution: "其中国有企业增长了多少？" becomes a question that stands alone.

No LLM: a follow-up that is elliptical ("那禹州市呢？", "酒驾呢？") swaps the matching term of the previous
question for the new one; one that points back (其中/它/这个/该) gets the previous question's topic
terms prefixed. Sessions are bounded in number, in turns and in idle time, and safe to share
between threads.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import jieba.posseg as posseg

from qa.text import is_cjk

# Words that point back to the previous question.
_ANAPHORS = (
    "其中",
    "它们",
    "它",
    "这个",
    "这些",
    "这项",
    "这一",
    "该项目",
    "该",
    "此",
    "那个",
    "那些",
    "他们",
    "他",
    "她",
)
_LEADING = re.compile(r"^(那么|那|还有|另外|再问一下|再问|and|what about|how about)\s*", re.IGNORECASE)
_TRAILING = re.compile(r"[呢吗呀啊]?\s*[？?。！!]*\s*$")
_QUESTION_WORDS = re.compile(
    r"多少|几|谁|哪|什么|何时|何地|怎么|怎样|如何|为什么|是否|吗|\b(who|what|when|where|which|how)\b",
    re.IGNORECASE,
)
# POS tags whose words carry the topic of a question.
_TOPIC_FLAGS = ("n", "nr", "nrt", "ns", "nt", "nz", "vn", "t", "eng", "i", "l", "j")
_CARRY_FLAGS = ("n", "nr", "nrt", "ns", "nt", "nz", "t", "eng", "j")
_GROUPS = {"nr": "person", "nrt": "person", "ns": "place", "t": "time", "nt": "org"}
# An asked attribute after 的 ("…的指挥长是谁") is a short noun phrase: longer tails are a clause.
MIN_ATTRIBUTE_CHARS, MAX_ATTRIBUTE_CHARS = 2, 6
_STOP = frozenset("的 了 是 在 和 与 有 多少 几 谁 哪 哪个 哪些 哪里 什么 呢 吗".split())  # noqa: SIM905


@dataclass(frozen=True)
class Turn:
    """One question of a session as asked, as resolved, and what it got back."""

    question: str
    resolved: str
    answer: str = ""
    short_answer: str | None = None


def _as_text(item: str | Turn) -> str:
    """The resolved text of a history item (a Turn or a plain string)."""
    return item.resolved if isinstance(item, Turn) else str(item)


_TIME_WORD = re.compile(r"\d{2,4}年|今年|去年|明年|前年|上半年|下半年|本月|上月")


def _group(flag: str, word: str = "") -> str:
    """Coarse class of a jieba POS word, so a place replaces a place and a time a time."""
    if _TIME_WORD.fullmatch(word):
        return "time"
    return _GROUPS.get(flag, "noun")


def _topic_words(text: str) -> list[tuple[str, str]]:
    """(word, flag) pairs of the content words of a question, in order."""
    words = []
    for pair in posseg.cut(text):
        word, flag = pair.word.strip(), pair.flag
        if not word or word in _STOP or _QUESTION_WORDS.fullmatch(word):
            continue
        if flag.startswith(_TOPIC_FLAGS) or (flag == "m" and re.search(r"\d", word)):
            words.append((word, flag))
    return words


def _is_followup(question: str) -> bool:
    """True when the question leans on the one before it (anaphor, 那/呢, or too short to stand alone)."""
    stripped = _TRAILING.sub("", question.strip())
    if _LEADING.match(stripped) or re.search(r"呢\s*[？?]?\s*$", question.strip()):
        return True
    if any(stripped.startswith(a) or a in stripped for a in _ANAPHORS if a not in ("他", "她", "此", "该")):
        return True
    if re.match(r"^(他|她|该|此)", stripped):
        return True
    return len(_topic_words(stripped)) == 0


def _asked_attribute(question: str) -> str:
    """What the question asks about: the words right before its question word, after the last 的
    ("…指挥部的指挥长是谁" -> 指挥长), else its last content word. A follow-up naming another attribute
    or role (那政委呢？) replaces it."""
    match = _QUESTION_WORDS.search(question)
    if not match:
        return ""
    head = re.sub(r"(?:是|为|有|在)+$", "", question[: match.start()].rstrip())
    if "的" in head:
        tail = head.rsplit("的", 1)[1]
        if MIN_ATTRIBUTE_CHARS <= len(tail) <= MAX_ATTRIBUTE_CHARS:
            return tail
    words = [word for word, _flag in _topic_words(head)]
    return words[-1] if words else ""


def _substitute(previous: str, new_words: list[tuple[str, str]]) -> str | None:
    """The previous question with its term of the same kind as the new word swapped for it, else None.

    Words the previous question already has are context ("那指挥部的政委呢？" after "…指挥部的指挥长是谁？"):
    only the new ones replace something; when no term of the same kind matches, the new word replaces
    the attribute the previous question asked about (指挥长 -> 政委).
    """
    fresh = [(w, f) for w, f in new_words if w not in previous]
    new_words = fresh or new_words
    if not new_words:
        return None
    asked = _asked_attribute(previous)
    word = "".join(w for w, _ in new_words)
    if asked and fresh and asked != word and (asked in word or word in asked):  # 指挥长 -> 副指挥长
        return _replace_keeping_word(previous, asked, word)
    swapped = _substitute_same_kind(previous, new_words)
    if swapped is not None:
        return swapped
    if asked and fresh and asked != word:
        return _replace_keeping_word(previous, asked, word)
    return None


def _substitute_same_kind(previous: str, new_words: list[tuple[str, str]]) -> str | None:
    """Swap the previous question's term of the same kind as the new word (a place for a place), or a span
    ending like it (醉驾 -> 酒驾), else None."""
    word, flag = new_words[0] if len(new_words) == 1 else ("".join(w for w, _ in new_words), "n")
    if _TIME_WORD.fullmatch(word):
        swapped = _TIME_WORD.sub(word, previous, count=1)
        return swapped if swapped != previous else None
    candidates = [(w, f) for w, f in _topic_words(previous) if w != word]
    same_group = [(w, f) for w, f in candidates if _group(f, w) == _group(flag, word)]
    if not same_group:
        return _substitute_by_suffix(previous, word)

    def closeness(item: tuple[str, str]) -> tuple[int, int]:
        shared = len(set(item[0]) & set(word))
        return (shared + (2 if item[0][-1:] == word[-1:] else 0), len(item[0]))

    target = max(same_group, key=closeness)
    if _group(flag, word) == "noun" and closeness(target)[0] == 0:
        return _substitute_by_suffix(previous, word)
    return _replace_keeping_word(previous, target[0], word)


def _replace_keeping_word(text: str, old: str, new: str) -> str:
    """Replace `old` by `new`, spacing it off when it would otherwise merge with a neighbour (魏都区长)."""
    replaced = text.replace(old, new, 1)
    if new in (pair.word for pair in posseg.cut(replaced)):
        return replaced
    return text.replace(old, f" {new} ", 1).strip()


def _substitute_by_suffix(previous: str, word: str) -> str | None:
    """Swap a same-length span of `previous` that ends like `word` (醉驾 -> 酒驾), else None."""
    if len(word) < 2:
        return None
    for start in range(len(previous) - len(word), -1, -1):
        span = previous[start : start + len(word)]
        if span != word and span[-1] == word[-1] and all(is_cjk(ch) for ch in span):
            return previous[:start] + word + previous[start + len(word) :]
    return None


def _predicate(question: str) -> str:
    """The word right after the question word ("哪一年荣膺…" -> 荣膺): what a new question replaces."""
    words = [pair.word for pair in posseg.cut(question)]
    for i, word in enumerate(words[:-1]):
        if _QUESTION_WORDS.fullmatch(word) or word in ("哪一年", "哪年", "何时", "哪天"):
            return words[i + 1]
    return ""


def resolve_followup(question: str, history: Sequence[str | Turn]) -> str:
    """A stand-alone form of `question` given the earlier turns (most recent last), else `question` itself."""
    question = question.strip()
    if not history or not _is_followup(question):
        return question
    previous = _as_text(history[-1]).strip()
    core = _TRAILING.sub("", _LEADING.sub("", question))
    if not _QUESTION_WORDS.search(core):
        # Elliptical: "那禹州市呢？" -> swap the matching term, keep the previous question's ask.
        new_words = _topic_words(core)
        if "".join(w for w, _ in new_words) != core.replace("的", "") and len(core) <= 6:
            new_words = [(core, "n")]  # jieba split a short term it does not know (酒驾 -> 酒/驾)
        swapped = _substitute(previous, new_words)
        if swapped is not None:
            return swapped
        return f"{core} {previous}".strip()
    # Points back: "其中国有企业增长了多少？" -> prefix the previous topic terms it lacks.
    for anaphor in _ANAPHORS:
        if core.startswith(anaphor):
            core = core[len(anaphor) :]
            break
    core = re.sub(r"(它们|它|这个|这些|这项|该项目)", "", core)
    predicate = _predicate(previous)
    carried = [w for w, f in _topic_words(previous) if w not in core and f in _CARRY_FLAGS and w != predicate]
    context = "".join(dict.fromkeys(carried))
    return f"{context} {core}？".strip() if context else question


class SessionStore:
    """Chat histories keyed by session id: at most `max_sessions` (least recently used go first),
    `max_turns` per session, dropped after `ttl_s` idle seconds. Thread-safe."""

    def __init__(self, max_sessions: int = 1000, max_turns: int = 20, ttl_s: float = 3600.0) -> None:
        if max_sessions < 1 or max_turns < 1 or ttl_s <= 0:
            raise ValueError("max_sessions, max_turns and ttl_s must be positive")
        self.max_sessions = max_sessions
        self.max_turns = max_turns
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[float, list[Turn]]] = OrderedDict()

    def _expire(self, now: float) -> None:
        """Drop idle sessions (caller holds the lock)."""
        while self._sessions:
            oldest_id, (seen, _turns) = next(iter(self._sessions.items()))
            if now - seen <= self.ttl_s:
                break
            del self._sessions[oldest_id]

    def new_id(self) -> str:
        """A fresh random session id."""
        return uuid.uuid4().hex

    def history(self, session_id: str) -> list[Turn]:
        """The kept turns of a session, oldest first (empty for an unknown or expired id)."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            entry = self._sessions.get(session_id)
            return list(entry[1]) if entry else []

    def append(self, session_id: str, turn: Turn) -> None:
        """Record a turn, creating the session if needed and evicting the least recently used."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            _seen, turns = self._sessions.pop(session_id, (now, []))
            turns = [*turns, turn][-self.max_turns :]
            self._sessions[session_id] = (now, turns)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def __len__(self) -> int:
        """Number of live sessions."""
        with self._lock:
            self._expire(time.monotonic())
            return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        """True for a live session id."""
        with self._lock:
            self._expire(time.monotonic())
            return session_id in self._sessions
