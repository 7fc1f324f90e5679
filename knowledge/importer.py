"""Load knowledge-base articles from JSON, CSV or a folder of Markdown files, all or nothing.

JSON: a list of article objects, or ``{"articles": [...]}``. CSV: a header row with
``title``, ``questions`` (phrasings separated by ``|`` or newlines), ``answer``, ``tags``
(comma- or ``|``-separated, optional), ``status`` and ``sms_answer`` (optional). Markdown:
one ``.md`` file per article, front matter between ``---`` lines (see ``frontmatter.py``)
and the answer as the body. An ``id`` field (written by the exporter) is ignored.
Every row is validated before anything is returned; the first problem raises
``ArticleImportError`` naming the row (JSON: position in the list and the line it starts
on; CSV: the file line where the row starts; Markdown: the file) and field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub.model import ArticleStatus, NewArticle
from knowledge import frontmatter

Progress = Callable[[int, int], None]

_CSV_REQUIRED = ("title", "questions", "answer")


class ArticleImportError(ValueError):
    """The file cannot be imported; the message names the row and the field."""


def _text(where: str, raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise ArticleImportError(f"{where}: field '{name}' is missing")
    if not isinstance(value, str):
        raise ArticleImportError(f"{where}: field '{name}' must be a string")
    if not value.strip():
        raise ArticleImportError(f"{where}: field '{name}' is empty")
    return value.strip()


def _string_list(where: str, name: str, value: Any, separators: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = re.split(separators, value)
    elif isinstance(value, list):
        items = value
    else:
        raise ArticleImportError(f"{where}: field '{name}' must be a list or a string")
    if not all(isinstance(i, str) for i in items):
        raise ArticleImportError(f"{where}: field '{name}' must contain only strings")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


def _article(where: str, raw: Any, list_seps: str, tag_seps: str) -> NewArticle:
    if not isinstance(raw, Mapping):
        raise ArticleImportError(f"{where}: an article must be an object")
    title = _text(where, raw, "title")
    questions = _string_list(where, "questions", raw.get("questions"), list_seps)
    if not questions:
        raise ArticleImportError(f"{where}: field 'questions' is empty")
    answer = _text(where, raw, "answer")
    tags = _string_list(where, "tags", raw.get("tags"), tag_seps)
    status_raw = raw.get("status")
    if status_raw is None or (isinstance(status_raw, str) and not status_raw.strip()):
        status = ArticleStatus.PUBLISHED
    elif isinstance(status_raw, str) and status_raw.strip().lower() in set(ArticleStatus):
        status = ArticleStatus(status_raw.strip().lower())
    else:
        raise ArticleImportError(
            f"{where}: field 'status' must be 'published' or 'draft', not {status_raw!r}"
        )
    sms = raw.get("sms_answer")
    if sms is not None and not isinstance(sms, str):
        raise ArticleImportError(f"{where}: field 'sms_answer' must be a string")
    return NewArticle(title=title, questions=questions, answer=answer, tags=tags, status=status,
                      sms_answer=sms.strip() or None if sms else None)


def _element_lines(text: str) -> list[int]:
    """The line each element of the (first) top-level article list starts on."""
    start = text.find("[", text.find('"articles"') if text.lstrip().startswith("{") else 0)
    decoder, pos = json.JSONDecoder(), start + 1
    lines: list[int] = []
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                return lines
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = decoder.raw_decode(text, pos)
    except (json.JSONDecodeError, ValueError):
        return lines


def _from_json(text: str, progress: Progress | None = None) -> list[NewArticle]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArticleImportError(f"line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if isinstance(data, dict):
        data = data.get("articles")
    if not isinstance(data, list):
        raise ArticleImportError('expected a list of articles or {"articles": [...]}')
    lines = _element_lines(text)
    articles = []
    for n, raw in enumerate(data, 1):
        try:
            articles.append(_article(f"article {n}", raw, r"\n", r"[,|]"))
        except ArticleImportError as exc:
            where = f" (line {lines[n - 1]})" if n <= len(lines) else ""
            raise ArticleImportError(f"{exc}{where}") from None
        if progress is not None:
            progress(n, len(data))
    return articles


def _from_csv(text: str) -> list[NewArticle]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    for name in _CSV_REQUIRED:
        if name not in header:
            raise ArticleImportError(f"line 1: column '{name}' is missing")
    reader.fieldnames = header
    articles = []
    line = reader.line_num + 1
    for row in reader:
        if None in row:
            raise ArticleImportError(f"row {line}: more values than columns")
        articles.append(_article(f"row {line}", row, r"[|\n]", r"[,|]"))
        line = reader.line_num + 1
    return articles


def _from_markdown_folder(folder: Path, progress: Progress | None) -> list[NewArticle]:
    files = sorted(p for p in folder.rglob("*.md") if p.is_file())
    if not files:
        raise ArticleImportError(f"{folder}: no .md files")
    articles = []
    for done, path in enumerate(files, 1):
        name = str(path.relative_to(folder))
        try:
            raw = frontmatter.parse(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError:
            raise ArticleImportError(f"{name}: not UTF-8 text") from None
        except ValueError as exc:
            raise ArticleImportError(f"{name}: {exc}") from None
        articles.append(_article(name, raw, r"\n", r"[,|]"))
        if progress is not None:
            progress(done, len(files))
    return articles


def load_articles(path: Path, progress: Progress | None = None) -> list[NewArticle]:
    """Read and validate every article in ``path`` (``.json``, ``.csv`` or a folder of
    ``.md`` files); ``progress(done, total)`` is called as JSON or Markdown articles are
    read."""
    if Path(path).is_dir():
        return _from_markdown_folder(Path(path), progress)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleImportError(f"{path}: not UTF-8 text") from exc
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return _from_json(text, progress)
    if suffix == ".csv":
        return _from_csv(text)
    raise ArticleImportError(
        f"{path}: unsupported file type {suffix!r} (use .json, .csv or a folder of .md files)")
