"""Markdown with front matter: a small YAML subset, no dependency.

::

    ---
    title: "Shipping times"
    questions:
      - How long does shipping take?
      - "When will my order arrive?"
    tags: [shipping, orders]
    status: published
    ---
    The answer, in Markdown.

Scalars may be bare, "double-quoted" (JSON escapes) or 'single-quoted'; lists are
``[a, b]`` or ``- item`` lines. Errors raise ``FrontMatterError`` (a ``ValueError``) naming
the line.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$")
_ITEM = re.compile(r"^\s+-\s*(.*)$")


class FrontMatterError(ValueError):
    """The front matter does not parse; ``line`` is where (None: the file as a whole)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


def _scalar(raw: str, line: int) -> str:
    raw = raw.strip()
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise FrontMatterError("bad double-quoted string", line) from None
        return str(value)
    if raw.startswith("'"):
        if not raw.endswith("'") or len(raw) < 2:
            raise FrontMatterError("bad single-quoted string", line)
        return raw[1:-1].replace("''", "'")
    return raw


def _flow_list(raw: str, line: int) -> list[str]:
    inner = raw.strip()[1:-1].strip()
    if not inner:
        return []
    items = re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^,]+', inner)
    return [_scalar(i, line) for i in items if i.strip()]


def parse(text: str) -> dict[str, Any]:
    """The front matter's fields plus ``answer`` (the body)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise FrontMatterError("the file must start with '---' front matter", 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise FrontMatterError("the front matter has no closing '---'") from None
    fields: dict[str, Any] = {}
    current: str | None = None
    for number in range(1, end):
        line = lines[number]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM.match(line)
        if item and current is not None and isinstance(fields[current], list):
            fields[current].append(_scalar(item.group(1), number + 1))
            continue
        key = _KEY.match(line)
        if key is None:
            raise FrontMatterError("expected 'name: value'", number + 1)
        name, raw = key.group(1), key.group(2).strip()
        if not raw:
            fields[name], current = [], name
        elif raw.startswith("[") and raw.endswith("]"):
            fields[name], current = _flow_list(raw, number + 1), None
        else:
            fields[name], current = _scalar(raw, number + 1), None
    fields["answer"] = "\n".join(lines[end + 1:]).strip()
    return fields
