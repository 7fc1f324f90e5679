"""Load knowledge-base articles from JSON, CSV or a folder of Markdown files, all or nothing.

JSON: a list of article objects, or ``{"articles": [...]}``. CSV: a header row with
``title``, ``questions`` (phrasings separated by ``|`` or newlines), ``answer``, ``tags``
(comma- or ``|``-separated, optional), ``status`` and ``sms_answer`` (optional). Markdown:
one ``.md`` file per article, front matter between ``---`` lines (see ``frontmatter.py``)
and the answer as the body. An ``id`` field (written by the exporter) is ignored.
Every row is validated before anything is returned; the first problem raises
``ArticleImportError`` naming the row (JSON: position in the list and the line it starts
on; CSV: the file line where the row starts; Markdown: the file) and field, in its message
and in its ``line``, ``file`` and ``field`` attributes (for the API's error body).

The CLI reads a path (``load_articles``); the admin API reads uploaded bytes
(``knowledge/upload.py``) through the same ``load_text`` and ``load_markdown``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hub.model import MAX_ARTICLE_QUESTIONS, MAX_ARTICLE_TEXT, ArticleStatus, NewArticle
from knowledge import frontmatter

Progress = Callable[[int, int], None]

_CSV_REQUIRED = ("title", "questions", "answer")


class ArticleImportError(ValueError):
    """The file cannot be imported; the message names the row and the field."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 file: str | None = None) -> None:
        super().__init__(message)
        self.field, self.line, self.file = field, line, file

    def at(self, *, line: int | None = None, file: str | None = None, prefix: str = "",
           suffix: str = "") -> ArticleImportError:
        """The same error placed in a line and/or file it did not know yet."""
        return ArticleImportError(f"{prefix}{self}{suffix}", field=self.field,
                                  line=self.line or line, file=self.file or file)

    def details(self) -> dict[str, Any]:
        return {"line": self.line, "file": self.file, "field": self.field}


def _bad_field(where: str, name: str, problem: str) -> ArticleImportError:
    return ArticleImportError(f"{where}: field '{name}' {problem}", field=name)


def _text(where: str, raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise _bad_field(where, name, "is missing")
    if not isinstance(value, str):
        raise _bad_field(where, name, "must be a string")
    if not value.strip():
        raise _bad_field(where, name, "is empty")
    return value.strip()


def _string_list(where: str, name: str, value: Any, separators: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = re.split(separators, value)
    elif isinstance(value, list):
        items = value
    else:
        raise _bad_field(where, name, "must be a list or a string")
    if not all(isinstance(i, str) for i in items):
        raise _bad_field(where, name, "must contain only strings")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


def _article(where: str, raw: Any, list_seps: str, tag_seps: str) -> NewArticle:
    if not isinstance(raw, Mapping):
        raise ArticleImportError(f"{where}: an article must be an object")
    title = _text(where, raw, "title")
    questions = _string_list(where, "questions", raw.get("questions"), list_seps)
    if not questions:
        raise _bad_field(where, "questions", "is empty")
    if len(questions) > MAX_ARTICLE_QUESTIONS:
        raise _bad_field(where, "questions", f"has more than {MAX_ARTICLE_QUESTIONS} phrasings")
    answer = _text(where, raw, "answer")
    if len(answer) > MAX_ARTICLE_TEXT:
        raise _bad_field(where, "answer", f"is longer than {MAX_ARTICLE_TEXT} characters")
    tags = _string_list(where, "tags", raw.get("tags"), tag_seps)
    status_raw = raw.get("status")
    if status_raw is None or (isinstance(status_raw, str) and not status_raw.strip()):
        status = ArticleStatus.PUBLISHED
    elif isinstance(status_raw, str) and status_raw.strip().lower() in set(ArticleStatus):
        status = ArticleStatus(status_raw.strip().lower())
    else:
        raise _bad_field(where, "status", f"must be 'published' or 'draft', not {status_raw!r}")
    sms = raw.get("sms_answer")
    if sms is not None and not isinstance(sms, str):
        raise _bad_field(where, "sms_answer", "must be a string")
    if sms is not None and len(sms) > MAX_ARTICLE_TEXT:
        raise _bad_field(where, "sms_answer", f"is longer than {MAX_ARTICLE_TEXT} characters")
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
        raise ArticleImportError(f"line {exc.lineno}: invalid JSON ({exc.msg})",
                                 line=exc.lineno) from exc
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
            if n > len(lines):
                raise
            raise exc.at(line=lines[n - 1], suffix=f" (line {lines[n - 1]})") from None
        if progress is not None:
            progress(n, len(data))
    return articles


def _from_csv(text: str) -> list[NewArticle]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
        for name in _CSV_REQUIRED:
            if name not in header:
                raise ArticleImportError(f"line 1: column '{name}' is missing", field=name,
                                         line=1)
        reader.fieldnames = header
        articles = []
        line = reader.line_num + 1
        for row in reader:
            if None in row:
                raise ArticleImportError(f"row {line}: more values than columns", line=line)
            try:
                articles.append(_article(f"row {line}", row, r"[|\n]", r"[,|]"))
            except ArticleImportError as exc:
                raise exc.at(line=line) from None
            line = reader.line_num + 1
    except csv.Error as exc:  # e.g. a cell longer than the csv module's limit
        raise ArticleImportError(f"row {line}: {exc}", line=line) from None
    return articles


def load_markdown(files: Iterable[tuple[str, str]], total: int,
                  progress: Progress | None = None) -> list[NewArticle]:
    """Articles from ``(name, text)`` Markdown files with front matter, one per file;
    errors name the file (and the line, for front matter that does not parse)."""
    articles = []
    for done, (name, text) in enumerate(files, 1):
        try:
            raw = frontmatter.parse(text)
            articles.append(_article(name, raw, r"\n", r"[,|]"))
        except frontmatter.FrontMatterError as exc:
            raise ArticleImportError(f"{name}: {exc}", line=exc.line, file=name) from None
        except ArticleImportError as exc:
            raise exc.at(file=name) from None
        if progress is not None:
            progress(done, total)
    return articles


def _from_markdown_folder(folder: Path, progress: Progress | None) -> list[NewArticle]:
    paths = sorted(p for p in folder.rglob("*.md") if p.is_file())
    if not paths:
        raise ArticleImportError(f"{folder}: no .md files")

    def read() -> Iterable[tuple[str, str]]:
        for path in paths:
            name = str(path.relative_to(folder))
            try:
                yield name, path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                raise ArticleImportError(f"{name}: not UTF-8 text", file=name) from None

    return load_markdown(read(), len(paths), progress)


def load_text(text: str, kind: str, progress: Progress | None = None) -> list[NewArticle]:
    """Articles from the text of a ``json`` or ``csv`` file."""
    return _from_json(text, progress) if kind == "json" else _from_csv(text)


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
    if suffix in (".json", ".csv"):
        return load_text(text, suffix[1:], progress)
    raise ArticleImportError(
        f"{path}: unsupported file type {suffix!r} (use .json, .csv or a folder of .md files)")
