"""The knowledge admin API: admins only, edits live on the next message, history, the
unanswered log (fallbacks and "didn't help"), settings, templating and SMS variants."""

from __future__ import annotations

from typing import Any

from conftest import Running, Visitor, admin_headers, bearer

from hub.model import Author
from knowledge.feedback import feedback_inbound

ARTICLE = {"title": "Parrot care", "questions": ["how do I feed my parrot",
                                                "what do parrots eat"],
           "answer": "Seeds and fruit, {{first_name|friend}}.", "tags": ["pets"]}


async def _json(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_agents_are_refused_the_admin_api_and_page(hub: Running) -> None:
    agent = bearer(await hub.add_user("ann@example.com"))
    before = len(await hub.hub.store.list_articles())
    for method, path, body in [
        ("POST", "/api/v1/articles", ARTICLE),
        ("PATCH", "/api/v1/articles/1", {"title": "x"}),
        ("DELETE", "/api/v1/articles/1", None),
        ("GET", "/api/v1/articles/1/history", None),
        ("POST", "/api/v1/articles/1/restore", {"revision_id": 1}),
        ("GET", "/api/v1/kb/unanswered", None),
        ("POST", "/api/v1/kb/unanswered/dismiss", {"ids": [1]}),
        ("POST", "/api/v1/kb/unanswered/phrasing", {"ids": [1], "article_id": 1, "text": "x"}),
        ("GET", "/api/v1/kb/settings", None),
        ("GET", "/api/v1/kb/status", None),
        ("PUT", "/api/v1/kb/settings", {"synonyms": {}}),
        ("GET", "/api/v1/kb/export", None),
    ]:
        resp = await hub.client.request(method, path, json=body, headers=agent)
        assert resp.status == 403, (method, path, await resp.text())
        assert (await resp.json())["error"]["code"] == "forbidden"
        anonymous = await hub.client.request(method, path, json=body)
        assert anonymous.status == 401, (method, path)
    assert len(await hub.hub.store.list_articles()) == before
    page = await hub.client.get("/admin", headers=agent)
    assert page.status == 403
    assert "Admins only" in await page.text()
    # agents may still read articles and try the matcher
    assert (await hub.client.get("/api/v1/articles", headers=agent)).status == 200
    assert (await hub.client.get("/api/v1/kb/match?q=refund", headers=agent)).status == 200


async def test_admin_page_is_served_to_admins_and_to_the_login_form(hub: Running) -> None:
    admin = await admin_headers(hub)
    for headers in (admin, {}):
        page = await hub.client.get("/admin", headers=headers)
        assert page.status == 200 and "login-email" in await page.text()
    assert (await hub.client.get("/static/admin/admin.js")).status == 200


async def test_create_edit_search_history_restore(hub: Running) -> None:
    admin = await admin_headers(hub)
    created = await _json(await hub.client.post("/api/v1/articles", json={
        **ARTICLE, "sms_answer": "Seeds.", "status": "draft"}, headers=admin), 201)
    await hub.settle()  # the write answered once committed; now the matcher has it too
    assert created["sms_answer"] == "Seeds." and created["status"] == "draft"
    aid = created["id"]
    visitor = await hub.visitor()
    assert (await visitor.ask("what do parrots eat"))["article_id"] != aid  # a draft

    await _json(await hub.client.patch(f"/api/v1/articles/{aid}",
                                       json={"status": "published"}, headers=admin))
    await hub.settle()  # the write answered once committed; now the matcher has it too
    reply = await visitor.ask("what do parrots eat")
    assert reply["article_id"] == aid
    assert reply["text"] == "Seeds and fruit, friend."  # no name: the fallback text

    found = await _json(await hub.client.get("/api/v1/articles?q=PARROT seeds", headers=admin))
    assert [a["id"] for a in found["articles"]] == [aid]
    drafts = await _json(await hub.client.get("/api/v1/articles?status=draft", headers=admin))
    assert drafts["articles"] == []

    history = (await _json(await hub.client.get(f"/api/v1/articles/{aid}/history",
                                                headers=admin)))["revisions"]
    assert [r["action"] for r in history] == ["update", "create"]
    restored = await _json(await hub.client.post(
        f"/api/v1/articles/{aid}/restore", json={"revision_id": history[1]["id"]},
        headers=admin))
    assert restored["status"] == "draft"
    await hub.settle()  # the write answered once committed; now the matcher has it too
    assert (await visitor.ask("what do parrots eat"))["article_id"] != aid

    await _json(await hub.client.delete(f"/api/v1/articles/{aid}", headers=admin))
    history = (await _json(await hub.client.get(f"/api/v1/articles/{aid}/history",
                                                headers=admin)))["revisions"]
    assert history[0]["action"] == "delete"
    back = await _json(await hub.client.post(f"/api/v1/articles/{aid}/restore",
                                             json={"revision_id": history[0]["id"]},
                                             headers=admin))
    assert back["id"] == aid
    bad = await hub.client.post(f"/api/v1/articles/{aid}/restore",
                                json={"revision_id": 99999}, headers=admin)
    assert bad.status == 404


async def test_bad_article_input_changes_nothing(hub: Running) -> None:
    admin = await admin_headers(hub)
    before = await hub.hub.store.list_articles()
    for body in [{**ARTICLE, "questions": []}, {**ARTICLE, "title": " "},
                 {**ARTICLE, "status": "live"}, {**ARTICLE, "sms_answer": 5},
                 {"title": "only"}]:
        resp = await hub.client.post("/api/v1/articles", json=body, headers=admin)
        assert resp.status == 422, body
    resp = await hub.client.post("/api/v1/articles", data=b"{not json", headers=admin)
    assert resp.status == 400
    assert await hub.hub.store.list_articles() == before


async def _thread_reply(hub: Running, visitor: Visitor, after: int) -> dict[str, Any]:
    await hub.settle()
    replies = [m for m in await visitor.messages(after=after) if m["author"] == "bot"]
    assert replies
    return replies[0]


async def test_fallbacks_and_unhelpful_answers_are_logged_grouped_and_resolved(
    hub: Running,
) -> None:
    admin = await admin_headers(hub)
    for text in ["can you juggle flaming torches", "Can you juggle flaming torches?",
                 "can u juggle flaming torches"]:
        visitor = await hub.visitor()
        assert "don't know" in (await visitor.ask(text))["text"]
    visitor2 = await hub.visitor()
    answer = await visitor2.ask("how long does shipping take?")
    assert answer["article_id"] is not None and not answer["suggestions"]
    sorry = await visitor2.ask("that didn't help")
    assert "didn't help" in sorry["text"].lower() and "agent" in sorry["text"].lower()
    assert all(s["article_id"] != answer["article_id"] for s in sorry["suggestions"])

    groups = (await _json(await hub.client.get("/api/v1/kb/unanswered",
                                               headers=admin)))["groups"]
    parrot = next(g for g in groups if "juggle" in g["text"].lower())
    assert parrot["count"] == 3 and parrot["kinds"] == {"fallback": 3}
    unhelpful = next(g for g in groups if "unhelpful" in g["kinds"])
    assert unhelpful["text"] == "how long does shipping take?"
    assert unhelpful["articles"] == [answer["article_id"]]
    listed = await _json(await hub.client.get("/api/v1/articles", headers=admin))
    counts = {a["id"]: a["unhelpful_count"] for a in listed["articles"]}
    assert counts[answer["article_id"]] == 1
    # one article's own: what customers said of its answers (the reports page links here)
    own = (await _json(await hub.client.get(
        f"/api/v1/kb/unanswered?article_id={answer['article_id']}", headers=admin)))["groups"]
    assert [(g["text"], g["count"]) for g in own] == [("how long does shipping take?", 1)]
    other = next(a["id"] for a in listed["articles"] if a["id"] != answer["article_id"])
    assert (await _json(await hub.client.get(f"/api/v1/kb/unanswered?article_id={other}",
                                             headers=admin)))["groups"] == []
    for wrong in ("x", "0", "-3", "99999999999999999999", "\u00b2", "\uff11", "9" * 5000):
        refused = await hub.client.get("/api/v1/kb/unanswered", params={"article_id": wrong},
                                       headers=admin)
        assert refused.status == 422 and "'article_id'" in (await refused.json())["error"][
            "message"], wrong

    # "add as a phrasing of…": the article learns the question, the group goes away
    target = await hub.hub.store.get_article(answer["article_id"])
    assert target is not None
    added = await _json(await hub.client.post("/api/v1/kb/unanswered/phrasing", json={
        "ids": parrot["ids"], "article_id": target.id, "text": "can you juggle flaming torches"},
        headers=admin))
    assert "can you juggle flaming torches" in added["questions"]
    groups = (await _json(await hub.client.get("/api/v1/kb/unanswered",
                                               headers=admin)))["groups"]
    assert all("juggle" not in g["text"].lower() for g in groups)
    await hub.settle()  # the write answered once committed; now the matcher has it too
    visitor = await hub.visitor()
    assert (await visitor.ask("can you juggle flaming torches"))["article_id"] == target.id
    dismissed = await _json(await hub.client.post(
        "/api/v1/kb/unanswered/dismiss", json={"ids": unhelpful["ids"]}, headers=admin))
    assert dismissed == {"dismissed": 1}
    bad = await hub.client.post("/api/v1/kb/unanswered/dismiss", json={"ids": ["x"]},
                                headers=admin)
    assert bad.status == 422


async def test_no_after_a_suggestion_is_just_a_message(hub: Running) -> None:
    visitor = await hub.visitor()
    await visitor.ask("can you juggle flaming torches")
    reply = await visitor.ask("no")
    assert "didn't help" not in reply["text"]


async def test_thumbs_down_names_the_answer(hub: Running) -> None:
    visitor = await hub.visitor()
    answer = await visitor.ask("how long does shipping take?")
    await visitor.ask("thanks")
    # the widget's thumbs-down: the public web-chat API
    resp = await hub.client.post("/api/v1/webchat/messages", headers=visitor.headers,
                                 json={"feedback": "unhelpful", "message_id": answer["id"]})
    assert resp.status == 201, await resp.text()
    sent = (await resp.json())["message"]
    reply = await _thread_reply(hub, visitor, sent["id"])
    assert "didn't help" in reply["text"]
    async def unhelpful() -> list[Any]:
        return [u for u in await hub.hub.store.list_unanswered() if u.kind.value == "unhelpful"]

    [entry] = await unhelpful()
    assert entry.article_id == answer["article_id"] and entry.message_id == answer["id"]
    # a thumbs-down on something that is not an answer offers a person, logs nothing
    visitor_id = visitor.token.split(".")[1]
    ingested = await hub.hub.pipeline.receive(feedback_inbound("webchat", visitor_id, 999999))
    reply = await _thread_reply(hub, visitor, ingested.message.id)
    assert "agent" in reply["text"]
    assert len(await unhelpful()) == 1
    bad = await hub.client.post("/api/v1/webchat/messages", headers=visitor.headers,
                                json={"feedback": "meh", "message_id": answer["id"]})
    assert bad.status == 422 and len(await unhelpful()) == 1


async def test_settings_synonyms_and_thresholds_are_live(hub: Running) -> None:
    admin = await admin_headers(hub)
    agent = bearer(await hub.add_user("ann@example.com"))
    await hub.client.post("/api/v1/articles", json=ARTICLE, headers=admin)
    match = await _json(await hub.client.get("/api/v1/kb/match?q=what do macaws eat",
                                             headers=agent))
    assert match["outcome"] != "answer"
    settings = await _json(await hub.client.put("/api/v1/kb/settings", json={
        "synonyms": {"parrot": ["macaw", "macaws"]}}, headers=admin))
    assert settings["synonyms"] == {"parrot": ["macaw", "macaws"]}
    match = await _json(await hub.client.get("/api/v1/kb/match?q=what do macaws eat",
                                             headers=agent))
    assert match["outcome"] == "answer" and match["matches"][0]["title"] == "Parrot care"

    strict = await _json(await hub.client.put("/api/v1/kb/settings", json={
        "thresholds": {"answer": 100, "suggest": 99}}, headers=admin))
    assert strict["thresholds"]["answer"] == 100
    assert strict["default_thresholds"]["answer"] < 100
    match = await _json(await hub.client.get("/api/v1/kb/match?q=what do macaws eat",
                                             headers=agent))
    assert match["outcome"] == "fallback"
    for bad in [{"thresholds": {"answer": 101}}, {"thresholds": {"answer": 10, "suggest": 20}},
                {"thresholds": {"speed": 1}}, {"synonyms": {"x": "y"}}, {"other": 1}]:
        resp = await hub.client.put("/api/v1/kb/settings", json=bad, headers=admin)
        assert resp.status == 422, bad
    reset = await _json(await hub.client.put("/api/v1/kb/settings",
                                             json={"thresholds": None}, headers=admin))
    assert reset["thresholds"] == reset["default_thresholds"]


async def test_sms_variant_and_contact_fields(hub: Running) -> None:
    from hub.model import InboundMessage

    admin = await admin_headers(hub)
    await hub.client.post("/api/v1/articles", json={
        "title": "Parrot care", "questions": ["what do parrots eat"],
        "answer": "Hi {{first_name}}! Seeds, fruit and greens; see our full guide.",
        "sms_answer": "{{name}}: seeds and fruit."}, headers=admin)
    await hub.settle()  # the write answered once committed; now the matcher has it too
    await hub.hub.pipeline.receive(InboundMessage("sms", "+15550001", "what do parrots eat",
                                                  display_name="Ann Lee"))
    await hub.hub.pipeline.receive(InboundMessage("telegram", "42", "what do parrots eat",
                                                  display_name="Bob Stone"))
    await hub.settle()
    texts = {}
    for conversation in await hub.hub.store.list_conversations():
        bot = [m for m in await hub.hub.store.list_messages(conversation.id)
               if m.author is Author.BOT]
        texts[conversation.channel] = bot[-1].text
    assert texts["sms"] == "Ann Lee: seeds and fruit."
    assert texts["telegram"] == "Hi Bob! Seeds, fruit and greens; see our full guide."


async def test_export_formats(hub: Running) -> None:
    admin = await admin_headers(hub)
    resp = await hub.client.get("/api/v1/kb/export?format=csv", headers=admin)
    assert resp.status == 200 and (await resp.text()).startswith("id,title,questions")
    data = await _json(await hub.client.get("/api/v1/kb/export", headers=admin))
    assert len(data["articles"]) == len(await hub.hub.store.list_articles())
    assert (await hub.client.get("/api/v1/kb/export?format=xml", headers=admin)).status == 422
