"""Load knowledge-base articles from JSON, CSV or a folder of Markdown files, all or nothing.

JSON: a list of article objects, or ``{"articles": [...]}``. CSV: a header row with
``title``, ``questions`` (phrasings separated by ``|`` or newlines), ``answer``, ``tags``
(comma- or ``|``-separated, optional), ``status`` and ``sms_answer`` (optional). Markdown:
one ``.md`` file per article, front matter between ``---`` lines (see ``frontmatter.py``)
and the answer as the body.

Two modes. ``add`` (the default) creates every article and ignores an ``id`` field (the
exporter writes one). ``update`` reads ``id`` (a whole number; a file's ids must differ):
a row with an id replaces that article, a row without one is a new article
(``write_import``). Every row is validated before anything is written; the first problem
raises ``ArticleImportError`` naming the row (JSON: position in the list and the line it
starts on; CSV: the file line where the row starts; Markdown: the file) and field, in its
message and in its ``line``, ``file`` and ``field`` attributes (for the API's error body).

The CLI reads a path (``load_rows``); the admin API reads uploaded bytes
(``knowledge/upload.py``) through the same ``load_text`` and ``load_markdown``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.model import MAX_ARTICLE_QUESTIONS, MAX_ARTICLE_TEXT, ArticleStatus, NewArticle
from knowledge import frontmatter

if TYPE_CHECKING:
    from hub.store import Store
    from hub.store.base_kb import ArticleChange, RevisionAuthor

Progress = Callable[[int, int], None]

MODES = ("add", "update")  # add: every row is a new article; update: rows with an id replace it
_CSV_REQUIRED = ("title", "questions", "answer")
_MAX_ID = 2**63 - 1  # the engines' integer ids


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


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One article of an import and where it is, to name it in an error found later (an id
    repeated in the file, or one that is no article)."""

    article: NewArticle
    id: int | None = None  # update mode: the article it replaces (None: a new article)
    where: str = ""  # how messages name it: "article 2", "row 7", "billing.md"
    line: int | None = None
    file: str | None = None
    suffix: str = ""  # after the message: " (line 14)" for JSON
    # optional fields the row does not give (no such key or column; an empty status): an
    # update keeps the article's own values for them
    absent: frozenset[str] = frozenset()

    def error(self, name: str, problem: str) -> ArticleImportError:
        return ArticleImportError(f"{self.where}: field '{name}' {problem}{self.suffix}",
                                  field=name, line=self.line, file=self.file)


def _id(where: str, raw: Mapping[str, Any]) -> int | None:
    """The ``id`` field: absent, null or empty: none; else a whole number from 1."""
    value = raw.get("id")
    if isinstance(value, str):
        value = value.strip() or None
        if value is not None and value.isascii() and value.isdigit():
            value = int(value)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_ID:
        raise _bad_field(where, "id", f"must be an article id (a whole number), not {value!r}")
    return value


def _unique_ids(rows: Sequence[ImportRow]) -> list[ImportRow]:
    first: dict[int, ImportRow] = {}
    for row in rows:
        if row.id is None:
            continue
        if row.id in first:
            raise row.error("id", f"repeats {row.id}, the id of {first[row.id].where}")
        first[row.id] = row
    return list(rows)


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


_OPTIONAL = ("tags", "status", "sms_answer")


def _row(where: str, raw: Any, list_seps: str, tag_seps: str, ids: bool,
         **place: Any) -> ImportRow:
    if not isinstance(raw, Mapping):
        raise ArticleImportError(f"{where}: an article must be an object")
    absent = frozenset(name for name in _OPTIONAL if raw.get(name) is None)
    if isinstance(raw.get("status"), str) and not raw["status"].strip():
        absent |= {"status"}
    return ImportRow(_article(where, raw, list_seps, tag_seps),
                     _id(where, raw) if ids else None, where, absent=absent, **place)


def _article(where: str, raw: Mapping[str, Any], list_seps: str, tag_seps: str) -> NewArticle:
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


def _from_json(text: str, ids: bool, progress: Progress | None = None) -> list[ImportRow]:
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
    rows = []
    for n, raw in enumerate(data, 1):
        line = lines[n - 1] if n <= len(lines) else None
        suffix = f" (line {line})" if line else ""
        try:
            rows.append(_row(f"article {n}", raw, r"\n", r"[,|]", ids, line=line,
                             suffix=suffix))
        except ArticleImportError as exc:
            if line is None:
                raise
            raise exc.at(line=line, suffix=suffix) from None
        if progress is not None:
            progress(n, len(data))
    return rows


def _from_csv(text: str, ids: bool) -> list[ImportRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
        for name in _CSV_REQUIRED:
            if name not in header:
                raise ArticleImportError(f"line 1: column '{name}' is missing", field=name,
                                         line=1)
        reader.fieldnames = header
        rows = []
        line = reader.line_num + 1
        for row in reader:
            if None in row:
                raise ArticleImportError(f"row {line}: more values than columns", line=line)
            try:
                rows.append(_row(f"row {line}", row, r"[|\n]", r"[,|]", ids, line=line))
            except ArticleImportError as exc:
                raise exc.at(line=line) from None
            line = reader.line_num + 1
    except csv.Error as exc:  # e.g. a cell longer than the csv module's limit
        raise ArticleImportError(f"row {line}: {exc}", line=line) from None
    return rows


def load_markdown(files: Iterable[tuple[str, str]], total: int,
                  progress: Progress | None = None, *, ids: bool = False) -> list[ImportRow]:
    """Articles from ``(name, text)`` Markdown files with front matter, one per file;
    errors name the file (and the line, for front matter that does not parse)."""
    rows = []
    for done, (name, text) in enumerate(files, 1):
        try:
            raw = frontmatter.parse(text)
            rows.append(_row(name, raw, r"\n", r"[,|]", ids, file=name))
        except frontmatter.FrontMatterError as exc:
            raise ArticleImportError(f"{name}: {exc}", line=exc.line, file=name) from None
        except ArticleImportError as exc:
            raise exc.at(file=name) from None
        if progress is not None:
            progress(done, total)
    return _unique_ids(rows)


def _from_markdown_folder(folder: Path, progress: Progress | None,
                          ids: bool) -> list[ImportRow]:
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

    return load_markdown(read(), len(paths), progress, ids=ids)


def load_text(text: str, kind: str, progress: Progress | None = None, *,
              ids: bool = False) -> list[ImportRow]:
    """Articles from the text of a ``json`` or ``csv`` file; with ``ids``, each row's
    ``id`` too (all different)."""
    return _unique_ids(_from_json(text, ids, progress) if kind == "json"
                       else _from_csv(text, ids))


def load_rows(path: Path, progress: Progress | None = None, *,
              ids: bool = False) -> list[ImportRow]:
    """Read and validate every article in ``path`` (``.json``, ``.csv`` or a folder of
    ``.md`` files); ``progress(done, total)`` is called as JSON or Markdown articles are
    read. With ``ids`` (update mode), each row's ``id`` is read too."""
    if Path(path).is_dir():
        return _from_markdown_folder(Path(path), progress, ids)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleImportError(f"{path}: not UTF-8 text") from exc
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".csv"):
        return load_text(text, suffix[1:], progress, ids=ids)
    raise ArticleImportError(
        f"{path}: unsupported file type {suffix!r} (use .json, .csv or a folder of .md files)")


def load_articles(path: Path, progress: Progress | None = None) -> list[NewArticle]:
    """The articles of ``path`` as new ones (add mode: ids ignored)."""
    return [row.article for row in load_rows(path, progress)]


async def write_import(store: Store, rows: Sequence[ImportRow], *,
                       author: RevisionAuthor | None) -> list[ArticleChange]:
    """Write validated rows in one transaction: rows with an id replace that article, the
    others are added. An id that is no article raises the row's ``ArticleImportError``
    (field ``id``), and nothing is written."""
    from hub.store import NotFound

    partial = [r for r in rows if r.id is not None and r.absent]
    current = {a.id: a for a in await store.list_articles()} if partial else {}
    items = []
    for r in rows:
        article = r.article
        if r.id in current and r.absent:  # fields the row does not give stay as they are
            kept = current[r.id]
            article = replace(article, **{name: getattr(kept, name) for name in r.absent})
        items.append((r.id, article))
    try:
        return await store.import_articles(items, author=author)
    except NotFound:
        existing = {a.id for a in await store.list_articles()}
        missing = next((r for r in rows if r.id is not None and r.id not in existing), None)
        if missing is None:
            raise
        raise missing.error("id", f"is {missing.id}, which is no article (leave the id out"
                                  " to add the row as a new article)") from None


def import_summary(changes: Sequence[ArticleChange]) -> dict[str, int]:
    """``{"added", "updated", "unchanged"}``: how many articles each action touched."""
    counts = dict.fromkeys(("added", "updated", "unchanged"), 0)
    for change in changes:
        counts[change.action] += 1
    return counts
