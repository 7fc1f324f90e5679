"""``POST /api/v1/kb/import``: the CLI's formats through the admin API — JSON, CSV, a zip of
Markdown files, Markdown files — answered from on the next message; all or nothing, a bad
row named by line (or file) and field; admins only; size limits."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import aiohttp
import pytest
from conftest import HubFactory, Running, admin_headers, bearer

ALPACA = {"title": "Alpaca grooming", "questions": ["how do I groom my alpaca",
                                                   "alpaca fleece brushing"],
          "answer": "Brush the fleece weekly with a wide comb.", "tags": ["pets"]}
LLAMA = {"title": "Llama treats", "questions": ["what treats can a llama have"],
         "answer": "Carrots and apple slices, in moderation."}


def _md(article: dict[str, Any]) -> str:
    questions = "".join(f"  - {q}\n" for q in article["questions"])
    return f"---\ntitle: {article['title']}\nquestions:\n{questions}---\n{article['answer']}\n"


def _csv(*articles: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["title", "questions", "answer"])
    for a in articles:
        writer.writerow([a["title"], "|".join(a["questions"]), a["answer"]])
    return out.getvalue()


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _form(files: dict[str, bytes | str]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, data in files.items():
        form.add_field("file", data.encode() if isinstance(data, str) else data,
                       filename=name, content_type="application/octet-stream")
    return form


def _upload(fmt: str, good: bool = True) -> dict[str, Any]:
    """Request arguments uploading ALPACA and LLAMA (or LLAMA broken) in format ``fmt``."""
    llama = LLAMA if good else {**LLAMA, "questions": []}
    if fmt == "json":  # a raw body, its format named by the Content-Type
        text = json.dumps({"articles": [ALPACA, llama]}, indent=2)
        return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}
    if fmt == "csv":
        return {"data": _form({"articles.csv": _csv(ALPACA, LLAMA if good else
                                                   {**LLAMA, "questions": [""]})})}
    if fmt == "zip":  # a folder of Markdown files, zipped (with the junk macOS adds)
        return {"data": _form({"kb.zip": _zip({
            "kb/alpaca.md": _md(ALPACA), "kb/llama.md": _md(llama),
            "__MACOSX/kb/._llama.md": "\x00\x05junk", "kb/notes.txt": "not an article"})})}
    return {"data": _form({"alpaca.md": _md(ALPACA), "llama.md": _md(llama)})}


async def _import(hub: Running, auth: dict[str, str], **upload: Any) -> aiohttp.ClientResponse:
    extra = upload.pop("headers", {})
    query = upload.pop("query", "")
    return await hub.client.post(f"/api/v1/kb/import{query}", headers={**auth, **extra},
                                 **upload)


async def _match(hub: Running, headers: dict[str, str], question: str) -> dict[str, Any]:
    resp = await hub.client.get("/api/v1/kb/match", params={"q": question}, headers=headers)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


@pytest.mark.parametrize("fmt", ["json", "csv", "zip", "md"])
async def test_an_imported_article_answers_the_next_message(hub: Running, fmt: str) -> None:
    admin = await admin_headers(hub)
    visitor = await hub.visitor()
    assert (await visitor.ask("how do I groom my alpaca"))["text"] != ALPACA["answer"]
    before = len(await hub.hub.store.list_articles())

    resp = await _import(hub, admin, **_upload(fmt))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["imported"] == 2
    assert [a["title"] for a in body["articles"]] == ["Alpaca grooming", "Llama treats"]
    assert len(await hub.hub.store.list_articles()) == before + 2
    await hub.settle()  # the write answered once committed; now the matcher has it too

    match = await _match(hub, admin, "how should I groom an alpaca")
    assert match["outcome"] == "answer"
    assert match["matches"][0]["title"] == "Alpaca grooming"
    assert (await visitor.ask("how do I groom my alpaca"))["text"] == ALPACA["answer"]
    assert (await visitor.ask("what treats can a llama have"))["text"] == LLAMA["answer"]


@pytest.mark.parametrize(("fmt", "where"), [
    ("json", {"line": 14, "file": None, "field": "questions",
              "message": "article 2: field 'questions' is empty (line 14)"}),
    ("csv", {"line": 3, "file": "articles.csv", "field": "questions",
             "message": "articles.csv: row 3: field 'questions' is empty"}),
    ("zip", {"line": None, "file": "kb/llama.md", "field": "questions",
             "message": "kb.zip: kb/llama.md: field 'questions' is empty"}),
    ("md", {"line": None, "file": "llama.md", "field": "questions",
            "message": "llama.md: field 'questions' is empty"}),
])
async def test_a_broken_import_names_line_and_field_and_changes_nothing(
    hub: Running, fmt: str, where: dict[str, Any]
) -> None:
    admin = await admin_headers(hub)
    before = await hub.hub.store.list_articles()
    resp = await _import(hub, admin, **_upload(fmt, good=False))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_import"
    assert error["message"].startswith(where.pop("message"))
    assert error["message"].endswith("nothing was imported")
    assert {k: error[k] for k in where} == where
    # the good first article was not written either: the bot still does not know it
    assert await hub.hub.store.list_articles() == before
    assert await hub.hub.store.article_history(len(before) + 1) == []
    assert (await _match(hub, admin, "how do I groom my alpaca"))["outcome"] != "answer"


async def test_broken_markdown_front_matter_names_file_and_line(hub: Running) -> None:
    admin = await admin_headers(hub)
    resp = await _import(hub, admin, data=_form({
        "alpaca.md": _md(ALPACA), "bad.md": '---\ntitle: "unterminated\nquestions: [q]\n---\nA\n'}))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["message"].startswith("bad.md: line 2: bad double-quoted string")
    assert (error["file"], error["line"]) == ("bad.md", 2)


async def test_import_is_for_admins_only(hub: Running) -> None:
    agent = bearer(await hub.add_user("ann@example.com"))
    before = await hub.hub.store.list_articles()
    for headers in (agent, {}):
        resp = await _import(hub, headers, **_upload("json"))
        assert resp.status == (403 if headers else 401)
        assert (await resp.json())["error"]["code"] == ("forbidden" if headers
                                                        else "unauthorized")
    assert await hub.hub.store.list_articles() == before


async def test_upload_limits_and_formats(start_hub: HubFactory) -> None:
    # an import may be larger than an ordinary request body, up to its own limit
    hub = await start_hub(max_body_bytes=1000, max_import_bytes=6000)
    admin = await admin_headers(hub)
    before = await hub.hub.store.list_articles()
    padded = {**ALPACA, "answer": ALPACA["answer"] + " " * 2000}
    many = json.dumps([padded, {**padded, "title": "Copy"}]).encode()  # ~4 kB
    resp = await _import(hub, admin, data=many, query="?format=json")
    assert resp.status == 200 and (await resp.json())["imported"] == 2
    imported = await hub.hub.store.list_articles()

    too_big = json.dumps([padded] * 3).encode()
    resp = await _import(hub, admin, data=too_big, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert "larger than 6000 bytes" in (await resp.json())["error"]["message"]
    # a small zip that unpacks to more than the limit
    bomb = _zip({f"kb/{i}.md": _md({**padded, "title": f"T{i}"}) for i in range(4)})
    assert len(bomb) < 6000
    resp = await _import(hub, admin, data=_form({"kb.zip": bomb}))
    assert resp.status == 413
    assert "unpacks to more than 6000 bytes" in (await resp.json())["error"]["message"]

    for upload, status in [
        ({"data": b"[]", "headers": {"Content-Type": "application/octet-stream"}}, 415),
        ({"data": _form({"notes.txt": "hello"})}, 415),
        ({"data": b"[]", "query": "?format=xml"}, 422),
        ({"data": b"PK not a zip", "headers": {"Content-Type": "application/zip"}}, 400),
        ({"data": b"\xff\xfe[]", "query": "?format=json"}, 400),
        ({"data": _form({"a.json": "[]", "b.csv": "title"})}, 400),
        ({"data": b"--x\r\nbroken", "headers": {
            "Content-Type": "multipart/form-data; boundary=x"}}, 400),
    ]:
        resp = await _import(hub, admin, **upload)
        assert resp.status == status, (upload, await resp.text())
        assert "message" in (await resp.json())["error"]
    assert await hub.hub.store.list_articles() == imported
    assert len(imported) == len(before) + 2
