"""Load knowledge-base articles from JSON or CSV, all or nothing.

JSON: a list of article objects, or ``{"articles": [...]}``. CSV: a header row with
``title``, ``questions`` (phrasings separated by ``|`` or newlines), ``answer``, ``tags``
(comma- or ``|``-separated, optional) and ``status`` (optional). Every row is validated
before anything is returned; the first problem raises ``ArticleImportError`` naming the
row (JSON: 1-based position in the list; CSV: the file line where the row starts) and field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.model import ArticleStatus, NewArticle

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
    return NewArticle(title=title, questions=questions, answer=answer, tags=tags, status=status)


def _from_json(text: str) -> list[NewArticle]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArticleImportError(f"line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if isinstance(data, dict):
        data = data.get("articles")
    if not isinstance(data, list):
        raise ArticleImportError('expected a list of articles or {"articles": [...]}')
    return [_article(f"article {n}", raw, r"\n", r"[,|]") for n, raw in enumerate(data, 1)]


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


def load_articles(path: Path) -> list[NewArticle]:
    """Read and validate every article in ``path`` (``.json`` or ``.csv``)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleImportError(f"{path}: not UTF-8 text") from exc
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return _from_json(text)
    if suffix == ".csv":
        return _from_csv(text)
    raise ArticleImportError(f"{path}: unsupported file type {suffix!r} (use .json or .csv)")
