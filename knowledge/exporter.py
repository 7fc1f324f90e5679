"""Export the knowledge base as JSON, CSV or a folder of Markdown files with front matter.

Each format reads back with ``knowledge.importer`` into the same articles, each with its
``id``: ``supporthub kb import --update`` (``?mode=update``) then replaces those articles in
place, while the default mode ignores the ids and adds copies.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.model import Article

FORMATS = ("json", "csv")
CSV_COLUMNS = ("id", "title", "questions", "answer", "sms_answer", "tags", "status")


def article_record(article: Article) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": article.id, "title": article.title, "questions": list(article.questions),
        "answer": article.answer, "tags": list(article.tags), "status": article.status.value,
    }
    if article.sms_answer:
        record["sms_answer"] = article.sms_answer
    return record


def to_json(articles: Sequence[Article]) -> str:
    return json.dumps({"articles": [article_record(a) for a in articles]},
                      ensure_ascii=False, indent=2) + "\n"


def to_csv(articles: Sequence[Article]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in articles:
        writer.writerow({"id": a.id, "title": a.title, "questions": "|".join(a.questions),
                         "answer": a.answer, "sms_answer": a.sms_answer or "",
                         "tags": "|".join(a.tags), "status": a.status.value})
    return out.getvalue()


def export_text(articles: Sequence[Article], fmt: str) -> str:
    return to_csv(articles) if fmt == "csv" else to_json(articles)


def to_markdown(article: Article) -> str:
    """Front matter (a YAML subset: JSON-quoted scalars and ``- item`` lists), then the
    answer as the body."""
    lines = ["---", f"id: {article.id}", f"title: {json.dumps(article.title, ensure_ascii=False)}",
             "questions:"]
    lines += [f"  - {json.dumps(q, ensure_ascii=False)}" for q in article.questions]
    lines.append("tags: [" + ", ".join(json.dumps(t, ensure_ascii=False)
                                       for t in article.tags) + "]")
    lines.append(f"status: {article.status.value}")
    if article.sms_answer:
        lines.append(f"sms_answer: {json.dumps(article.sms_answer, ensure_ascii=False)}")
    lines += ["---", "", article.answer.rstrip(), ""]
    return "\n".join(lines)


def _slug(article: Article) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", article.title.lower()).strip("-")[:60] or "article"
    return f"{article.id:04d}-{base}.md"


def write_markdown_folder(articles: Sequence[Article], folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for article in articles:
        (folder / _slug(article)).write_text(to_markdown(article), encoding="utf-8")
    return len(articles)


def export_path(articles: Sequence[Article], path: Path) -> str:
    """Write to ``path``: ``.json``, ``.csv``, or else a folder of Markdown files."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        path.write_text(export_text(articles, suffix[1:]), encoding="utf-8")
        return suffix[1:]
    write_markdown_folder(articles, path)
    return "markdown"
