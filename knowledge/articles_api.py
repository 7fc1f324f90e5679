"""``/api/v1/articles``: read by agents, changed by admins; and ``/api/v1/kb/match``.

Every change is one store transaction (which also writes the article's history) followed
by ``hub.knowledge_changed()``: the write answers once committed, and the matcher catches up
in the background (one rebuild at a time, coalescing every change made meanwhile;
``knowledge/service.py``). The bot matches the new version from the moment that rebuild is
swapped in: within milliseconds on a small knowledge base, seconds at 15,000 phrasings.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth import require_user
from hub.core import hub_of
from hub.errors import ApiError, field, json_body, path_id
from hub.model import (
    MAX_ARTICLE_QUESTIONS,
    MAX_ARTICLE_TEXT,
    Article,
    ArticleStatus,
    NewArticle,
    Role,
)
from hub.store import NotFound
from hub.store.base_kb import ArticleRevision, RevisionAuthor
from knowledge.normalize import normalize

routes = web.RouteTableDef()


def article_json(article: Article, unhelpful: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": article.id,
        "title": article.title,
        "questions": list(article.questions),
        "answer": article.answer,
        "sms_answer": article.sms_answer,
        "tags": list(article.tags),
        "status": article.status.value,
        "updated_at": article.updated_at.isoformat() if article.updated_at else None,
    }
    if unhelpful is not None:
        out["unhelpful_count"] = unhelpful
    return out


def author_json(author: RevisionAuthor | None) -> dict[str, Any] | None:
    """``{"user_id", "name", "email"}`` (a label such as "cli import": only ``name``), or
    None for a change made before authors were recorded."""
    if author is None:
        return None
    return {"user_id": author.user_id, "name": author.name, "email": author.email}


def revision_json(revision: ArticleRevision) -> dict[str, Any]:
    return {"id": revision.id, "article_id": revision.article_id, "action": revision.action,
            "created_at": revision.created_at.isoformat(),
            "author": author_json(revision.author),
            "article": article_json(revision.article)}


def new_article(article: Article) -> NewArticle:
    return NewArticle(article.title, article.questions, article.answer, article.tags,
                      article.status, article.sms_answer)


def article_from_body(body: dict[str, Any], base: NewArticle | None = None) -> NewArticle:
    """A full article (POST) or ``base`` with the fields the body gives (PATCH); 422 on
    anything invalid."""
    def pick(name: str, kind: type, default: Any) -> Any:
        value = field(body, name, kind, required=base is None and default is None)
        return default if value is None else value

    title = pick("title", str, base.title if base else None).strip()
    answer = pick("answer", str, base.answer if base else None).strip()
    questions = pick("questions", list, list(base.questions) if base else None)
    tags = pick("tags", list, list(base.tags) if base else [])
    status_name = pick("status", str, base.status.value if base else "published")
    sms_answer = base.sms_answer if base else None
    if "sms_answer" in body:
        raw = field(body, "sms_answer", str, required=False)
        sms_answer = raw.strip() or None if raw is not None else None
    if not title:
        raise ApiError(422, "field 'title' is empty")
    if not answer:
        raise ApiError(422, "field 'answer' is empty")
    if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ApiError(422, "field 'questions' must be a non-empty list of non-empty strings")
    if len(questions) > MAX_ARTICLE_QUESTIONS:
        raise ApiError(422, f"field 'questions' has more than {MAX_ARTICLE_QUESTIONS} phrasings")
    if not all(isinstance(t, str) for t in tags):
        raise ApiError(422, "field 'tags' must be a list of strings")
    if max(len(answer), len(sms_answer or "")) > MAX_ARTICLE_TEXT:
        raise ApiError(422, f"an answer is longer than {MAX_ARTICLE_TEXT} characters")
    try:
        status = ArticleStatus(status_name)
    except ValueError:
        raise ApiError(422, "field 'status' must be 'published' or 'draft'") from None
    clean_questions = tuple(dict.fromkeys(q.strip() for q in questions))
    return NewArticle(title, clean_questions, answer,
                      tuple(t.strip() for t in tags if t.strip()), status, sms_answer)


def _matches(article: Article, query: str) -> bool:
    hay = " ".join([article.title, *article.questions, article.answer, *article.tags])
    return all(word in normalize(hay) for word in normalize(query).split())


@routes.get("/api/v1/articles")
async def list_articles(request: web.Request) -> web.Response:
    """All articles; ``?q=`` keeps those containing every word, ``?status=`` one state."""
    hub = hub_of(request)
    await require_user(request, hub.store)
    articles = await hub.store.list_articles()
    query = request.query.get("q", "").strip()
    if query:
        articles = [a for a in articles if _matches(a, query)]
    status = request.query.get("status")
    if status:
        articles = [a for a in articles if a.status.value == status]
    counts = await hub.store.unhelpful_counts()
    return web.json_response(
        {"articles": [article_json(a, counts.get(a.id, 0)) for a in articles]})


@routes.post("/api/v1/articles")
async def create_article(request: web.Request) -> web.Response:
    hub = hub_of(request)
    user = await require_user(request, hub.store, Role.ADMIN)
    article = article_from_body(await json_body(request, "Article"))
    [created] = await hub.store.create_articles([article], author=RevisionAuthor.of(user))
    await hub.knowledge_changed()
    return web.json_response(article_json(created), status=201)


@routes.get("/api/v1/articles/{id}")
async def get_article(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    article_id = path_id(request)
    article = await hub.store.get_article(article_id)
    if article is None:
        raise NotFound(f"article {article_id} not found")
    return web.json_response(article_json(article))


@routes.patch("/api/v1/articles/{id}")
async def update_article(request: web.Request) -> web.Response:
    hub = hub_of(request)
    user = await require_user(request, hub.store, Role.ADMIN)
    article_id = path_id(request)
    body = await json_body(request, "ArticlePatch")
    current = await hub.store.get_article(article_id)
    if current is None:
        raise NotFound(f"article {article_id} not found")
    updated = await hub.store.update_article(
        article_id, article_from_body(body, new_article(current)),
        author=RevisionAuthor.of(user))
    await hub.knowledge_changed()
    return web.json_response(article_json(updated))


@routes.delete("/api/v1/articles/{id}")
async def delete_article(request: web.Request) -> web.Response:
    hub = hub_of(request)
    user = await require_user(request, hub.store, Role.ADMIN)
    await hub.store.delete_article(path_id(request), author=RevisionAuthor.of(user))
    await hub.knowledge_changed()
    return web.json_response({"ok": True})


@routes.get("/api/v1/articles/{id}/history")
async def article_history(request: web.Request) -> web.Response:
    """Every version, newest first (also of a deleted article, which can be restored)."""
    hub = hub_of(request)
    await require_user(request, hub.store, Role.ADMIN)
    article_id = path_id(request)
    revisions = await hub.store.article_history(article_id)
    if not revisions:
        raise NotFound(f"article {article_id} has no history")
    return web.json_response({"revisions": [revision_json(r) for r in revisions]})


@routes.post("/api/v1/articles/{id}/restore")
async def restore_article(request: web.Request) -> web.Response:
    hub = hub_of(request)
    user = await require_user(request, hub.store, Role.ADMIN)
    revision_id = field(await json_body(request, "Restore"), "revision_id", int)
    restored = await hub.store.restore_article(path_id(request), revision_id,
                                               author=RevisionAuthor.of(user))
    await hub.knowledge_changed()
    return web.json_response(article_json(restored))


@routes.get("/api/v1/kb/match")
async def kb_match(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await require_user(request, hub.store)
    query = request.query.get("q", "").strip()
    if not query:
        raise ApiError(422, "query parameter 'q' is required")
    result = hub.knowledge.match(query)
    return web.json_response({
        "outcome": result.outcome,
        "matches": [
            {"article_id": m.article_id, "title": m.title, "score": m.score}
            for m in result.matches
        ],
    })
