"""Import in update mode (``supporthub kb import --update``, ``POST /api/v1/kb/import
?mode=update``): export, edit the file, import it again, and the articles change in place —
in JSON, CSV and Markdown, on SQLite and PostgreSQL. A row's ``id`` names the article it
replaces; rows without one are added; an unknown or repeated id is named by line and field
and nothing is written, even when other rows were already written in the transaction."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Running, admin_headers

from hub.cli import main
from hub.model import Article, ArticleStatus, NewArticle
from hub.store import Store
from hub.store.base_kb import CLI_IMPORT, ArticleRevision
from knowledge.importer import ArticleImportError, load_rows, load_text

PARROTS = NewArticle("Parrots: care", ("what do parrots eat", "feeding a parrot"),
                     "Seeds, *fruit*\nand greens.", ("pets", "birds"),
                     sms_answer="Seeds and fruit.")
QUOTES = NewArticle('Quotes "and" commas, too', ("a 'quoted' question, with commas",), "Yes.",
                    status=ArticleStatus.DRAFT)
EDITED_ANSWER = "Seeds, pellets and fresh greens; no avocado."
NEW = {"title": "Parrot toys", "questions": ["what toys do parrots like"],
       "answer": "Wooden blocks and rope."}


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _state(store: Store) -> tuple[list[Article], list[list[ArticleRevision]]]:
    """Every article and every article's history: what an import must not change when it
    fails."""
    articles = await store.list_articles()
    ids = range(1, max((a.id for a in articles), default=0) + 3)
    return articles, [await store.article_history(i) for i in ids]


async def _seed(store: Store) -> tuple[Article, Article]:
    # a deleted article first: ids have a gap, and the deleted id stays unknown
    [gone] = await store.create_articles([NewArticle("Gone", ("old question",), "old")])
    await store.delete_article(gone.id)
    parrots, quotes = await store.create_articles([PARROTS, QUOTES])
    return parrots, quotes


def _edit_json(path: Path, parrots_id: int) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    [record] = [r for r in data["articles"] if r["id"] == parrots_id]
    record["answer"] = EDITED_ANSWER
    record["questions"].append("can parrots eat avocado")
    data["articles"].append(NEW)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _edit_csv(path: Path, parrots_id: int) -> None:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    [row] = [r for r in rows if r["id"] == str(parrots_id)]
    row["answer"] = EDITED_ANSWER
    row["questions"] += "|can parrots eat avocado"
    rows.append({"id": "", "title": NEW["title"], "questions": NEW["questions"][0],
                 "answer": NEW["answer"], "sms_answer": "", "tags": "", "status": ""})
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")  # as a spreadsheet
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def _edit_markdown(folder: Path, parrots_id: int) -> None:
    [path] = [p for p in folder.glob("*.md") if p.read_text().startswith(
        f"---\nid: {parrots_id}\n")]
    text = path.read_text(encoding="utf-8")
    text = text.replace('  - "feeding a parrot"\n',
                        '  - "feeding a parrot"\n  - can parrots eat avocado\n')
    head, _, _ = text.rpartition("---\n")
    path.write_text(f"{head}---\n{EDITED_ANSWER}\n", encoding="utf-8")
    (folder / "new.md").write_text(
        f"---\ntitle: {NEW['title']}\nquestions:\n  - {NEW['questions'][0]}\n---\n"
        f"{NEW['answer']}\n", encoding="utf-8")


EDITS = {"kb.json": _edit_json, "kb.csv": _edit_csv, "folder": _edit_markdown}


@pytest.mark.parametrize("target", list(EDITS))
async def test_export_edit_import_update_changes_articles_in_place(
    store: Store, store_url: str, tmp_path: Path, target: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parrots, quotes = await _seed(store)
    path = tmp_path / target
    assert await cli("kb", "export", str(path), "--db", store_url) == 0
    EDITS[target](path, parrots.id)
    capsys.readouterr()

    assert await cli("kb", "import", str(path), "--update", "--db", store_url) == 0
    assert capsys.readouterr().out.strip() == (
        f"imported 3 articles from {path}: 1 added, 1 updated, 1 unchanged")

    after = await store.list_articles()
    assert len(after) == 3  # not doubled: the two articles changed in place, one added
    edited, same, added = after
    assert edited.id == parrots.id and edited.answer == EDITED_ANSWER
    assert edited.questions == (*PARROTS.questions, "can parrots eat avocado")
    assert (edited.title, edited.tags, edited.sms_answer) == (
        PARROTS.title, PARROTS.tags, PARROTS.sms_answer)
    assert same == quotes  # untouched: same fields, status draft, same updated_at
    assert (added.title, added.questions, added.answer) == (
        NEW["title"], tuple(NEW["questions"]), NEW["answer"])
    assert added.id > quotes.id

    history = await store.article_history(parrots.id)
    assert [r.action for r in history] == ["update", "create"]
    assert history[0].author == CLI_IMPORT
    assert replace(history[0].article, updated_at=None) == replace(edited, updated_at=None)
    assert [r.action for r in await store.article_history(quotes.id)] == ["create"]
    assert [(r.action, r.author) for r in await store.article_history(added.id)] == [
        ("create", CLI_IMPORT)]

    # the same round trip with nothing edited changes nothing and writes no history
    again = tmp_path / f"again-{target}"
    assert await cli("kb", "export", str(again), "--db", store_url) == 0
    capsys.readouterr()
    before = await _state(store)
    assert await cli("kb", "import", str(again), "--update", "--db", store_url) == 0
    assert capsys.readouterr().out.strip().endswith("0 added, 0 updated, 3 unchanged")
    assert await _state(store) == before

    # without --update an import still adds every row, ids or not
    assert await cli("kb", "import", str(again), "--db", store_url) == 0
    assert capsys.readouterr().out.strip().endswith("3 added, 0 updated, 0 unchanged")
    assert len(await store.list_articles()) == 6


@pytest.mark.parametrize(("name", "content", "message"), [
    # row 2 updates article 2 and row 3 adds one before row 4 fails in the transaction
    ("unknown.csv", "id,title,questions,answer\n{parrots},Parrots,q,Edited.\n,New,q,a\n"
                    "{gone},Gone,q,a\n",
     "row 4: field 'id' is {gone}, which is no article"),
    ("repeated.csv", "id,title,questions,answer\n{parrots},Parrots,q,Edited.\n,New,q,a\n"
                     "{parrots},Again,q,a\n",
     "row 4: field 'id' repeats {parrots}, the id of row 2"),
    ("not-a-number.csv", "id,title,questions,answer\n{parrots},Parrots,q,Edited.\n"
                         "two,Two,q,a\n",
     "row 3: field 'id' must be an article id (a whole number), not 'two'"),
    ("unknown.json", '{{"articles": [\n  {{"id": {parrots}, "title": "P", "questions": ["q"],'
                     ' "answer": "Edited."}},\n  {{"id": 999, "title": "X", "questions": ["q"],'
                     ' "answer": "a"}}\n]}}',
     "article 2: field 'id' is 999, which is no article (leave the id out to add the row as"
     " a new article) (line 3)"),
])
async def test_an_unknown_or_repeated_id_changes_nothing(
    store: Store, store_url: str, tmp_path: Path, name: str, content: str, message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parrots, _ = await _seed(store)
    ids = {"parrots": parrots.id, "gone": parrots.id - 1}
    (tmp_path / name).write_text(content.format(**ids), encoding="utf-8")
    before = await _state(store)
    assert await cli("kb", "import", str(tmp_path / name), "--update", "--db", store_url) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / name}: {message.format(**ids)}" in err
    assert err.rstrip().endswith("nothing was imported")
    assert await _state(store) == before


async def test_fields_a_hand_made_file_leaves_out_keep_their_values(
    store: Store, store_url: str, tmp_path: Path,
) -> None:
    """A CSV with only id, title, questions and answer must not publish a draft or drop
    tags and the SMS answer: an update changes what the row gives."""
    parrots, quotes = await _seed(store)
    path = tmp_path / "short.csv"
    path.write_text("id,title,questions,answer\n"
                    f"{parrots.id},{parrots.title},what do parrots eat,\"{EDITED_ANSWER}\"\n"
                    f"{quotes.id},Quotes,a question,Yes.\n", encoding="utf-8")
    assert await cli("kb", "import", str(path), "--update", "--db", store_url) == 0
    now = {a.id: a for a in await store.list_articles()}
    assert now[parrots.id].answer == EDITED_ANSWER
    assert now[parrots.id].questions == ("what do parrots eat",)
    assert now[parrots.id].tags == PARROTS.tags
    assert now[parrots.id].sms_answer == PARROTS.sms_answer
    assert now[quotes.id].title == "Quotes"
    assert now[quotes.id].status == ArticleStatus.DRAFT  # still not matched


def test_ids_are_read_in_update_mode_only(tmp_path: Path) -> None:
    text = '[{"id": "7", "title": "T", "questions": ["q"], "answer": "a"},\n' \
           ' {"id": null, "title": "U", "questions": ["q"], "answer": "a"}]'
    assert [r.id for r in load_text(text, "json", ids=True)] == [7, None]
    assert [r.id for r in load_text(text, "json")] == [None, None]
    # add mode ignores ids altogether, even repeated or malformed ones (as before)
    loose = '[{"id": 1.5, "title": "T", "questions": ["q"], "answer": "a"},\n' \
            ' {"id": true, "title": "U", "questions": ["q"], "answer": "a"}]'
    assert len(load_text(loose, "json")) == 2
    for bad in ("1.5", "true", '"-3"', '"0"', "[1]", str(2**63)):
        with pytest.raises(ArticleImportError) as info:
            load_text(f'[{{"id": {bad}, "title": "T", "questions": ["q"], "answer": "a"}}]',
                      "json", ids=True)
        assert info.value.field == "id" and info.value.line == 1, bad

    folder = tmp_path / "kb"
    folder.mkdir()
    for name, article_id in (("a.md", "id: 4"), ("b.md", "id: 4"), ("c.md", "")):
        (folder / name).write_text(f"---\n{article_id}\ntitle: T\nquestions: [q]\n---\nA\n")
    assert [r.id for r in load_rows(folder)] == [None, None, None]
    with pytest.raises(ArticleImportError) as info:
        load_rows(folder, ids=True)
    assert str(info.value) == "b.md: field 'id' repeats 4, the id of a.md"
    assert (info.value.file, info.value.field) == ("b.md", "id")


# --- the admin API, on both engines ---------------------------------------------------------
@pytest.fixture
def db_url(any_engine_db_url: str) -> str:
    """The hubs of this module run on SQLite and on PostgreSQL."""
    return any_engine_db_url


async def _export(hub: Running, admin: dict[str, str], fmt: str) -> str:
    resp = await hub.client.get(f"/api/v1/kb/export?format={fmt}", headers=admin)
    assert resp.status == 200
    return await resp.text()


async def _update(hub: Running, admin: dict[str, str], name: str, text: str,
                  mode: str = "update") -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", text.encode(), filename=name)
    return await hub.client.post(f"/api/v1/kb/import?mode={mode}", headers=admin, data=form)


async def _match(hub: Running, admin: dict[str, str], question: str) -> dict[str, Any]:
    resp = await hub.client.get("/api/v1/kb/match", params={"q": question}, headers=admin)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_an_update_import_through_the_api_answers_the_next_message(hub: Running) -> None:
    admin = await admin_headers(hub)
    visitor = await hub.visitor()
    store = hub.hub.store
    before = await store.list_articles()
    [shipping] = [a for a in before if a.title == "How long does shipping take?"]
    assert (await visitor.ask("How long does shipping take?"))["text"] != "Two days, always."

    data = json.loads(await _export(hub, admin, "json"))
    [record] = [r for r in data["articles"] if r["id"] == shipping.id]
    record["answer"] = "Two days, always."
    record["questions"].append("how quickly does the courier bring my parcel")
    resp = await _update(hub, admin, "articles.json", json.dumps(data))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["mode"], body["imported"], body["added"], body["updated"],
            body["unchanged"]) == ("update", len(before), 0, 1, len(before) - 1)
    assert {"id": shipping.id, "title": shipping.title, "action": "updated"} in body["articles"]
    await hub.settle()  # the write answered once committed; now the matcher has it too

    after = await store.list_articles()
    assert [a.id for a in after] == [a.id for a in before]
    assert [a for a in after if a.id != shipping.id] == [
        a for a in before if a.id != shipping.id]
    match = await _match(hub, admin, "how quickly does the courier bring my parcel")
    assert match["outcome"] == "answer" and match["matches"][0]["article_id"] == shipping.id
    assert (await visitor.ask("How long does shipping take?"))["text"] == "Two days, always."
    [latest, *_] = await store.article_history(shipping.id)
    assert latest.action == "update" and latest.author is not None
    assert (latest.author.name, latest.author.email) == ("Root", "root@example.com")
    assert latest.author.user_id is not None

    history = await hub.client.get(f"/api/v1/articles/{shipping.id}/history", headers=admin)
    assert (await history.json())["revisions"][0]["author"]["email"] == "root@example.com"


async def test_api_update_errors_name_line_and_field_and_change_nothing(hub: Running) -> None:
    admin = await admin_headers(hub)
    store = hub.hub.store
    before = await _state(store)
    first, second = before[0][:2]
    rows = list(csv.DictReader(io.StringIO(await _export(hub, admin, "csv"), newline="")))
    rows[0]["answer"] = "Edited, but never written."

    def as_csv(*extra: dict[str, str]) -> str:
        """The first row edited, the second as a new article, then ``extra``."""
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([rows[0], {**rows[1], "id": ""}, *extra])
        return out.getvalue()

    line = as_csv().count("\n") + 1  # where the extra row starts
    for extra, field_message in [
        ({**rows[1], "id": "99999"}, "field 'id' is 99999, which is no article"),
        ({**rows[1], "id": str(first.id)}, f"field 'id' repeats {first.id}, the id of row 2"),
        ({**rows[1], "id": "#2"}, "field 'id' must be an article id (a whole number)"),
    ]:
        resp = await _update(hub, admin, "articles.csv", as_csv(extra))
        assert resp.status == 400, await resp.text()
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_import"
        assert error["message"].startswith(f"articles.csv: row {line}: {field_message}")
        assert error["message"].endswith("nothing was imported")
        assert (error["line"], error["file"], error["field"]) == (line, "articles.csv", "id")
        assert await _state(store) == before
    assert (await _match(hub, admin, second.questions[0]))["matches"][0]["article_id"] == second.id

    resp = await _update(hub, admin, "articles.csv", as_csv(rows[1]), mode="replace")
    assert resp.status == 422
    assert (await resp.json())["error"]["message"] == "mode must be one of add, update"
    assert await _state(store) == before
