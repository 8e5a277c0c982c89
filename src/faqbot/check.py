"""`faqbot check`: lint the data folder for editors, without building anything.

One line per problem, `file:line: error|warning: what is wrong — what to change`. Errors are what
makes a page, an FAQ or a name go missing or go wrong for visitors (the build skips the page or
drops the FAQ, a banned drug loses its notice, a citation shows a wrong date, a name leads to
another page). Warnings are what faqbot repairs or tolerates but an editor may want to clean:
the seed page's known FAQ damage (`**` and the answer again inside `q`, `A:**` before each answer),
which pages.py repairs when indexing, is a warning, so `faqbot check` on the shipped data/ passes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from faqbot.errors import FaqbotError, PageError
from faqbot.pages import (
    ANSWER_PREFIX_RE,
    BODY_QUESTION_RE,
    DOC_ID_RE,
    FAQ_HEADING_RE,
    HEADING_RE,
    normalise_name,
    parse_page,
    repair_answer,
    repair_question,
    slugify,
    split_heading,
    strip_bold,
)

FIELDS = ("title", "description", "is_banned", "lastModified", "faqs")
BOUNDARY_RE = re.compile(r"^-{3,}\s*$")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    severity: str  # "error" or "warning"
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message} — {self.fix}"


class _Page:
    """What one file says, with the line each part starts on."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []
        self.key_lines: dict[str, int] = {}
        self.meta: dict[str, Any] = {}
        self.body_start = 1

    def error(self, line: int, message: str, fix: str) -> None:
        self.problems.append(Problem(self.shown, line, "error", message, fix))

    def warning(self, line: int, message: str, fix: str) -> None:
        self.problems.append(Problem(self.shown, line, "warning", message, fix))


def check_data(data_dir: Path, now: datetime | None = None) -> tuple[list[Problem], int]:
    """Every problem of every page under data_dir, by file and line; and how many pages were read."""
    if not data_dir.is_dir():
        raise FaqbotError(f"no data folder at {data_dir}; pass --data with the folder of .md pages")
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    claimed: dict[str, list[tuple[str, int, str]]] = {}  # normalised name -> (page, line, doc_id)
    ids: dict[str, str] = {}
    paths = [p for p in sorted(data_dir.rglob("*.md")) if not any(part.startswith(".") for part in p.relative_to(data_dir).parts)]
    for path in paths:
        shown = str(path.relative_to(data_dir.parent)) if data_dir.parent != Path("") else str(path)
        page = _Page(shown)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            page.error(1, f"cannot be read ({exc.strerror})", "check the file's permissions")
            problems += page.problems
            continue
        text = _check_file(page, path, raw, now)
        problems += page.problems
        if text is None:
            continue
        if path.stem in ids:
            problems.append(Problem(shown, 1, "error", f"page id '{path.stem}' is also {ids[path.stem]}; the build skips this one",
                                    "rename one of the two files"))  # fmt: skip
            continue
        ids[path.stem] = shown
        try:
            parsed = parse_page(path, raw, root=data_dir)
        except PageError as exc:  # the build skips it: reported above with its line, or here by the build's words
            if not any(p.severity == "error" for p in page.problems):
                problems.append(Problem(shown, 1, "error", f"the build skips this page: {exc.reason}", "fix what it names"))
            continue
        lines = text.splitlines()
        for name in parsed.names:
            key = normalise_name(name)
            pattern = re.compile(rf"\b{re.escape(key)}\b")
            line = next((i + 1 for i, t in enumerate(lines) if key and pattern.search(normalise_name(t))), page.key_lines.get("title", 1))
            claimed.setdefault(key, []).append((shown, line, parsed.doc_id))
    for name, owners in sorted(claimed.items()):
        docs = sorted({doc for _, _, doc in owners})
        if len(docs) < 2:
            continue
        for shown, line, doc in owners:
            others = ", ".join(d for d in docs if d != doc)
            winner = docs[0]  # the drug matcher keeps a name for the first page id in order
            fate = "questions naming it go to this page" if doc == winner else f"questions naming it go to {winner}, never here"
            problems.append(Problem(shown, line, "error", f"the name '{name}' is also claimed by {others}; {fate}",
                                    "keep each brand or other name on one page only"))  # fmt: skip
    return sorted(set(problems)), len(paths)


def _check_file(page: _Page, path: Path, raw: bytes, now: datetime) -> str | None:
    """Check one file; the decoded text, or None when nothing further can be read."""
    if not DOC_ID_RE.match(path.stem):
        page.error(1, f"file name '{path.name}' is not a valid page id; the build skips it",
                   "rename it with lower-case letters, digits, '-' and '_' (such as 'insulin-glargine.md')")  # fmt: skip
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        page.error(line, f"not UTF-8 (byte {exc.start}); the build skips the page", "save the file as UTF-8")
        return None
    lines = text.splitlines()
    if not lines or not BOUNDARY_RE.match(lines[0]):
        page.error(1, "no front matter: the page has no title, so the build skips it",
                   "start the file with '---', the fields title, description, is_banned, lastModified and faqs, then '---'")  # fmt: skip
        return None
    end = next((i for i in range(1, len(lines)) if BOUNDARY_RE.match(lines[i])), None)
    if end is None:
        page.error(1, "the front matter is not closed; the build skips the page", "end the front matter with a line '---'")
        return None
    page.body_start = end + 2
    _check_front_matter(page, "\n".join(lines[1:end]), now)
    _check_body(page, lines[end + 1 :], end + 2)
    return text


def _check_front_matter(page: _Page, source: str, now: datetime) -> None:
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        page.error(line, f"the front matter is not valid YAML ({getattr(exc, 'problem', None) or 'unreadable'}); "
                   "the build skips the page", "fix the YAML between the '---' lines (quote text that holds ': ')")  # fmt: skip
        return
    if meta is None:
        meta = {}
    if not isinstance(meta, dict) or not isinstance(node, yaml.MappingNode | type(None)):
        page.error(2, "the front matter is not a list of 'key: value' fields; the build skips the page",
                   "write 'title: ...', 'description: ...' and so on between the '---' lines")  # fmt: skip
        return
    page.meta = meta
    items: dict[str, yaml.Node] = {}
    if node is not None:
        for key_node, value_node in node.value:
            page.key_lines[str(key_node.value)] = key_node.start_mark.line + 2
            items[str(key_node.value)] = value_node
    line = page.key_lines.get
    for key in meta:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f"did you mean '{close[0]}'? rename it" if close else f"remove it, or use one of {', '.join(FIELDS)}"
            page.warning(line(str(key), 2), f"unknown front matter field '{key}', ignored", hint)

    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        page.error(line("title", 2), "no 'title' (the drug's name); the build skips the page", "add 'title: <drug name>'")
    description = meta.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        page.warning(line("description", 2), "no 'description'", "add 'description: <one line about the drug>'")
    elif not isinstance(description, str):
        page.warning(line("description", 2), "'description' is not text", "write it as one line of text")
    if "is_banned" not in meta:
        page.warning(2, "no 'is_banned'; taken as false", "add 'is_banned: false' (or true for a banned or withdrawn drug)")
    elif not isinstance(meta["is_banned"], bool):
        page.error(line("is_banned", 2), f"'is_banned' is {meta['is_banned']!r}, not true or false; taken as false, so a "
                   "banned drug would show no notice", "write 'is_banned: true' or 'is_banned: false'")  # fmt: skip
    _check_last_modified(page, meta.get("lastModified"), line("lastModified", 2), now)
    _check_faqs(page, meta.get("faqs"), items.get("faqs"), line("faqs", 2))


def _check_last_modified(page: _Page, value: Any, line: int, now: datetime) -> None:
    fix = "write it as an ISO time in quotes, such as lastModified: '2025-09-22T17:21:52.138Z'"
    if value is None or value == "":
        page.warning(line, "no 'lastModified'; citations show no date", f"add it: {fix}")
        return
    when: datetime | None = None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
    if when is None:
        page.error(line, f"'lastModified' {value!r} is not a date and time; citations would show it as it is", fix)
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when > now:
        page.error(line, f"'lastModified' {value if isinstance(value, str) else when.isoformat()} is in the future",
                   "set it to when the page was last edited (not later than now, in UTC)")  # fmt: skip


def _check_faqs(page: _Page, faqs: Any, node: yaml.Node | None, line: int) -> None:
    if faqs in (None, ""):
        return
    if not isinstance(faqs, list) or not isinstance(node, yaml.SequenceNode):
        page.error(line, "'faqs' is not a list; no FAQ of the page is indexed", "write each FAQ as '- q: <question>' with 'a: <answer>'")
        return
    damaged: list[int] = []
    seen: dict[str, int] = {}
    for n, (item, item_node) in enumerate(zip(faqs, node.value), 1):
        at = item_node.start_mark.line + 2
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            page.error(at, f"FAQ {n} has no question 'q' as text; it is not indexed", "give it 'q: <question>' and 'a: <answer>'")
            continue
        for key in item:
            if key not in ("q", "a"):
                page.warning(at, f"FAQ {n} has an unknown field '{key}', ignored", "keep only 'q' and 'a'")
        raw_q, raw_a = item["q"], str(item.get("a") or "")
        question, answer = repair_question(raw_q), repair_answer(raw_a, raw_q)
        if not question:
            page.error(at, f"FAQ {n}'s question is empty once repaired; it is not indexed", "write the question in 'q'")
            continue
        if not answer:
            page.error(at, f"FAQ {n} ('{question[:60]}') has no answer; it is not indexed", "write the answer in 'a'")
            continue
        if "**" in raw_q or ANSWER_PREFIX_RE.match(raw_a):
            damaged.append(at)
            copy = raw_q.split("**A:**", 1)[1].strip() if "**A:**" in raw_q else ""
            if copy and raw_a.strip() and " ".join(copy.split()) != " ".join(ANSWER_PREFIX_RE.sub("", raw_a, count=1).split()):
                page.warning(at, f"FAQ {n}'s 'q' holds another answer than its 'a'; the 'a' is indexed",
                             "make the two answers the same, or better, end 'q' at its question")  # fmt: skip
        key = question.lower()
        if key in seen:
            page.error(at, f"FAQ {n} asks the same as the FAQ at line {seen[key]}; only the first is indexed",
                       "remove one, or merge their answers")  # fmt: skip
        else:
            seen[key] = at
    page.meta["_faq_questions"] = set(seen)
    if damaged:
        page.warning(damaged[0], f"{len(damaged)} FAQ(s) carry the seed's damage ('**' then the answer again inside 'q', "
                     "'A:**' before the answer); faqbot repairs it when indexing",
                     "to clean the source, end each 'q' at its question mark and start each 'a' with the answer")  # fmt: skip


def _check_body(page: _Page, lines: list[str], first: int) -> None:
    """Headings, empty sections, duplicate anchors and the body's FAQ section, with line numbers."""
    headings: list[tuple[int, int, str, str]] = []  # (line, level, title, inline text)
    content: dict[int, bool] = {}  # heading index -> any text under it before the next heading
    in_code = False
    for offset, text in enumerate(lines):
        if text.lstrip().startswith("```"):
            in_code = not in_code
        heading = None if in_code else HEADING_RE.match(text)
        if heading:
            title, inline = split_heading(heading.group(2))
            headings.append((first + offset, len(heading.group(1)), title, inline))
            content[len(headings) - 1] = bool(inline)
        elif text.strip() and headings:
            content[len(headings) - 1] = True
        elif text.strip() and not headings:
            content[-1] = True
    faq_questions: set[str] = page.meta.get("_faq_questions", set())
    anchors: dict[str, int] = {}
    faq_level: int | None = None
    body_faqs = 0
    for i, (line, level, title, _) in enumerate(headings):
        if faq_level is not None and level > faq_level:
            body_faqs += 1
            q = BODY_QUESTION_RE.match(_heading_text(lines[line - first]))
            question = " ".join(strip_bold(q.group(1) if q else title).split())
            if faq_questions and question.lower() not in faq_questions:
                page.error(line, f"the body's FAQ '{question[:60]}' is not among the front matter's faqs, so it is not "
                           "indexed (the front matter's FAQs win)", "add it to 'faqs' in the front matter")  # fmt: skip
            if not content.get(i):
                page.error(line, f"the body's FAQ '{question[:60]}' has no answer", "write the answer under it ('**A:** ...')")
            continue
        faq_level = None
        if not title:
            page.warning(line, "a heading with no title", "give it a title or remove the '#' line")
            continue
        if FAQ_HEADING_RE.match(title):
            faq_level = level
            continue
        children = i + 1 < len(headings) and headings[i + 1][1] > level
        if not content.get(i) and not children:
            page.warning(line, f"section '{title}' is empty; visitors see a heading with nothing under it",
                         "write its text under the heading, or remove the heading")  # fmt: skip
        anchor = slugify(title)
        if anchor in anchors and (content.get(i) or not children):
            page.warning(line, f"heading '{title}' has the same anchor '#{anchor}' as the one at line {anchors[anchor]}; "
                         f"this one becomes '#{anchor}-2' or later, a link that changes when sections move",
                         "give the heading a distinct title")  # fmt: skip
        elif content.get(i) or not children:
            anchors.setdefault(anchor, line)
    if not headings and not content.get(-1) and not faq_questions:
        page.error(first, "no sections and no FAQs: nothing to index; the build skips the page",
                   "add '## Heading' sections with text, or 'faqs' in the front matter")  # fmt: skip


def _heading_text(line: str) -> str:
    match = HEADING_RE.match(line)
    return match.group(2) if match else line


def format_problems(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
