"""Read a drug page: front matter, repaired FAQs, sections with heading paths, the drug's names.

Pages are markdown with YAML front matter. Their known quirks (see PRODUCT.md) are repaired
here so that nothing downstream ever sees them: FAQ questions that carry their answer after
`**`, answers that start with `A:**`, headings wrapped in bold, text on a heading line, empty
sections, and the body's FAQ section that repeats the front matter's FAQs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from faqbot.errors import PageError

HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
FAQ_HEADING_RE = re.compile(r"^(faqs?|frequently asked questions)\b", re.IGNORECASE)
BODY_QUESTION_RE = re.compile(r"^\s*(?:\*\*)?\s*Q\d+\s*[:.]\s*(.*?)\s*(?:\*\*)?\s*$", re.IGNORECASE)
ANSWER_PREFIX_RE = re.compile(r"^\s*(?:\*\*)?\s*A\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
DOC_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Faq:
    """One question and its answer, repaired."""

    question: str
    answer: str
    anchor: str


@dataclass(frozen=True)
class Section:
    """The text directly under one heading (not its sub-headings)."""

    path: tuple[str, ...]
    anchor: str
    text: str


@dataclass(frozen=True)
class Page:
    """A parsed drug page."""

    doc_id: str
    title: str
    description: str
    is_banned: bool
    last_modified: str
    source_path: str
    content_hash: str
    names: tuple[str, ...]
    faqs: tuple[Faq, ...]
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = field(default=())


def slugify(text: str) -> str:
    """GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[\s_]+", "-", text.strip()).strip("-") or "section"


def strip_bold(text: str) -> str:
    """Remove markdown bold/italic markers around and inside a short label."""
    return re.sub(r"\*\*|__", "", text).strip()


def split_heading(raw: str) -> tuple[str, str]:
    """Split a heading line's content into (title, text that sits on the heading line).

    `**Children:** Not recommended.` -> ("Children", "Not recommended.").
    """
    raw = raw.strip()
    match = re.match(r"^\*\*(.+?)\*\*(.*)$", raw)
    if match:
        title, rest = match.group(1), match.group(2)
    else:
        title, rest = raw, ""
    title = strip_bold(title).rstrip(":").strip()
    return title, rest.strip()


def repair_question(raw: str) -> str:
    """The question ends where the damage (`**`, `**A:**`) begins."""
    text = raw.split("**", 1)[0]
    return " ".join(text.split())


def repair_answer(raw: str, question_raw: str = "") -> str:
    """Drop the `A:**` prefix; fall back to the copy of the answer inside a damaged question."""
    text = ANSWER_PREFIX_RE.sub("", raw or "", count=1).strip()
    if not text and "**A:**" in question_raw:
        text = question_raw.split("**A:**", 1)[1].strip()
    return text


def _unique_anchor(base: str, used: set[str]) -> str:
    anchor, n = base, 1
    while anchor in used:
        n += 1
        anchor = f"{base}-{n}"
    used.add(anchor)
    return anchor


def faq_anchor(question: str) -> str:
    """Anchor of an FAQ: stable under reordering because it comes from the question's words."""
    return "faq-" + slugify(question)[:80].rstrip("-")


def _front_matter_faqs(raw_faqs: Any, warnings: list[str]) -> list[tuple[str, str]]:
    if raw_faqs in (None, ""):
        return []
    if not isinstance(raw_faqs, list):
        warnings.append("front matter 'faqs' is not a list; ignored")
        return []
    pairs = []
    for i, item in enumerate(raw_faqs, 1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            warnings.append(f"FAQ {i} has no text question 'q'; skipped")
            continue
        question = repair_question(item["q"])
        answer = repair_answer(str(item.get("a") or ""), item["q"])
        if not question or not answer:
            warnings.append(f"FAQ {i} has an empty question or answer; skipped")
            continue
        pairs.append((question, answer))
    return pairs


def _body_faqs(lines: list[str]) -> list[tuple[str, str]]:
    """Q/A pairs from a body FAQ section: `### **Qn: ...**` then `**A:** ...`."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    answer: list[str] = []
    for line in lines:
        heading = HEADING_RE.match(line)
        if heading:
            if question and answer:
                pairs.append((question, "\n".join(answer).strip()))
            q = BODY_QUESTION_RE.match(heading.group(2))
            question = " ".join(strip_bold(q.group(1) if q else heading.group(2)).split())
            answer = []
        elif question is not None:
            if not answer and not line.strip():
                continue
            answer.append(ANSWER_PREFIX_RE.sub("", line, count=1) if not answer else line)
    if question and "\n".join(answer).strip():
        pairs.append((question, "\n".join(answer).strip()))
    return pairs


def extract_names(title: str, doc_id: str, alternate_text: str) -> tuple[str, ...]:
    """The drug's names: its title, then brand and other names found in its Alternate Names text."""
    names: list[str] = [title]
    text = re.sub(r"\([^)]*\)", "", alternate_text)  # "(for MS)" is not a name
    text = strip_bold(text)
    patterns = [
        r"brand names?\s+(?:such as\s+|including\s+|like\s+)?(.+?)(?:\.(?:\s|$)|;|$)",
        r"(?:also|otherwise|commonly)\s+(?:known|called|referred to)\s+as\s+(.+?)(?:\.(?:\s|$)|;|$)",
        r"(?:also|sold|available)\s+as\s+(.+?)(?:\.(?:\s|$)|;|$)",
        r"(?:simply called|development code|code name)\s+(.+?)(?:\.(?:\s|$)|;|$)",
    ]
    for pattern in patterns:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE | re.MULTILINE):
            # the list ends at the first part that is not a name ("acetaminophen, the name used in ...")
            for part in re.split(r",|\bor\b|\band\b|/", match.group(1)):
                name = part.strip(" '\"*`").strip()
                words = name.split()
                if not name or len(words) > 3 or len(name) < 3:
                    break
                if not re.match(r"^[A-Za-z0-9][\w\- ]*$", name) or words[0].lower() in {"the", "a", "an", "its", "which", "that"}:
                    break
                if name.lower() in {"others", "other", "various", "many", "generic", "several", "more"}:
                    break
                names.append(name)
    doc_name = doc_id.replace("-", " ").replace("_", " ")
    names.append(doc_name)
    seen: set[str] = set()
    unique = []
    for name in names:
        key = normalise_name(name)
        if key and key not in seen:
            seen.add(key)
            unique.append(name)
    return tuple(unique)


def normalise_name(name: str) -> str:
    """Lower case, accents dropped, punctuation to spaces: the form names are matched in."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name).split())


def _front_matter(path: Path, raw: str) -> tuple[dict[str, Any], str]:
    try:
        post = frontmatter.loads(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PageError(str(path), f"front matter is not valid YAML{where}; fix the YAML between the '---' lines") from exc
    except Exception as exc:  # frontmatter raises assorted errors on odd headers
        raise PageError(str(path), f"front matter cannot be read ({exc}); fix the block between the '---' lines") from exc
    if not isinstance(post.metadata, dict):
        raise PageError(str(path), "front matter is not a mapping; write 'key: value' lines between the '---' lines")
    return dict(post.metadata), post.content


def parse_page(path: Path, raw_bytes: bytes | None = None, root: Path | None = None) -> Page:
    """Parse one page file; raises PageError with the reason when it cannot be indexed."""
    if raw_bytes is None:
        raw_bytes = path.read_bytes()
    doc_id = path.stem
    shown = str(path.relative_to(root.parent)) if root is not None and path.is_relative_to(root.parent) else str(path)
    if not DOC_ID_RE.match(doc_id):
        raise PageError(shown, f"file name '{path.name}' is not a valid page id; use lower-case letters, digits, '-' and '_'")
    try:
        raw = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageError(shown, f"not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    meta, body = _front_matter(Path(shown), raw)
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PageError(shown, "no 'title' in the front matter; add 'title: <drug name>'")
    title = " ".join(title.split())
    warnings: list[str] = []
    is_banned = meta.get("is_banned", False)
    if not isinstance(is_banned, bool):
        warnings.append("'is_banned' is not true/false; taken as false")
        is_banned = False
    last_modified = meta.get("lastModified", "")
    if not isinstance(last_modified, str):
        last_modified = last_modified.isoformat() if hasattr(last_modified, "isoformat") else str(last_modified)
    description = meta.get("description") or ""
    if not isinstance(description, str):
        description = str(description)

    faq_pairs = _front_matter_faqs(meta.get("faqs"), warnings)
    sections, body_faq_lines, alternate_text = _sections(body)
    if not faq_pairs and body_faq_lines:
        faq_pairs = _body_faqs(body_faq_lines)
    used: set[str] = {s.anchor for s in sections}
    faqs = []
    seen_questions: set[str] = set()
    for question, answer in faq_pairs:
        key = question.lower()
        if key in seen_questions:
            continue
        seen_questions.add(key)
        faqs.append(Faq(question=question, answer=answer, anchor=_unique_anchor(faq_anchor(question), used)))
    if not sections and not faqs:
        raise PageError(shown, "no sections and no FAQs: nothing to index; add '## Heading' sections or 'faqs'")
    return Page(
        doc_id=doc_id,
        title=title,
        description=" ".join(description.split()),
        is_banned=is_banned,
        last_modified=last_modified,
        source_path=shown,
        content_hash=hashlib.sha256(raw_bytes).hexdigest(),
        names=extract_names(title, doc_id, alternate_text),
        faqs=tuple(faqs),
        sections=tuple(sections),
        warnings=tuple(warnings),
    )


def _sections(body: str) -> tuple[list[Section], list[str], str]:
    """Sections with heading paths; the lines of the FAQ section; the Alternate Names text."""
    sections: list[Section] = []
    used: set[str] = set()
    stack: list[tuple[int, str]] = []
    current: list[str] = []
    faq_lines: list[str] = []
    in_faq_level: int | None = None
    alternate: list[str] = []

    def flush() -> None:
        text = "\n".join(current).strip()
        if text and in_faq_level is None:
            path = tuple(title for _, title in stack) or ("Overview",)
            sections.append(Section(path=path, anchor=_unique_anchor(slugify(path[-1]), used), text=text))
            if any("alternate name" in t.lower() or "other name" in t.lower() for t in path):
                alternate.append(text)
        current.clear()

    in_code = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        heading = None if in_code else HEADING_RE.match(line)
        if heading:
            level = len(heading.group(1))
            if in_faq_level is not None and level > in_faq_level:
                faq_lines.append(line)
                continue
            flush()
            title, inline = split_heading(heading.group(2))
            in_faq_level = None
            while stack and stack[-1][0] >= level:
                stack.pop()
            if not title:
                continue
            stack.append((level, title))
            if FAQ_HEADING_RE.match(title):
                in_faq_level = level
                continue
            if inline:
                current.append(inline)
        elif in_faq_level is not None:
            faq_lines.append(line)
        else:
            current.append(line)
    flush()
    return sections, faq_lines, "\n".join(alternate)


def load_pages(data_dir: Path) -> tuple[list[Page], list[PageError]]:
    """Every `*.md` page under data_dir, sorted by id; broken pages come back as errors."""
    pages: list[Page] = []
    errors: list[PageError] = []
    seen: dict[str, str] = {}
    for path in sorted(data_dir.rglob("*.md")):
        if any(part.startswith(".") for part in path.relative_to(data_dir).parts):
            continue
        try:
            page = parse_page(path, root=data_dir)
        except PageError as exc:
            errors.append(exc)
            continue
        except OSError as exc:
            errors.append(PageError(str(path), f"cannot be read ({exc.strerror})"))
            continue
        if page.doc_id in seen:
            errors.append(
                PageError(page.source_path, f"duplicate page id '{page.doc_id}' (also {seen[page.doc_id]}); rename one file")
            )
            continue
        seen[page.doc_id] = page.source_path
        pages.append(page)
    return pages, errors
