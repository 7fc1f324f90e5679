"""Importing articles from JSON and CSV: all or nothing, with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.model import MAX_ARTICLE_QUESTIONS, MAX_ARTICLE_TEXT, ArticleStatus
from knowledge.importer import ArticleImportError, load_articles

DEMO_KB = Path(__file__).resolve().parent.parent / "knowledge" / "demo_kb.json"


def test_demo_kb_imports() -> None:
    articles = load_articles(DEMO_KB)
    assert 25 <= len(articles) <= 40
    assert all(3 <= len(a.questions) <= 6 and a.answer for a in articles)
    assert all(a.status == ArticleStatus.PUBLISHED for a in articles)


def test_good_json_object_form(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    path.write_text(
        json.dumps(
            {
                "articles": [
                    {
                        "title": " Returns ",
                        "questions": ["How do I return?", "return policy"],
                        "answer": "30 days.",
                        "tags": "returns, policy",
                        "status": "draft",
                    },
                    {
                        "title": "Hours",
                        "questions": "When are you open?\nOpening hours",
                        "answer": "9-5",
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    first, second = load_articles(path)
    assert first.title == "Returns" and first.tags == ("returns", "policy")
    assert first.status == ArticleStatus.DRAFT
    assert second.questions == ("When are you open?", "Opening hours")
    assert second.tags == () and second.status == ArticleStatus.PUBLISHED


def test_good_csv(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        "Title,questions,answer,tags,status\n"
        'Shipping,"How long is shipping?|When will it arrive?",3-5 days,"shipping|orders",\n'
        'Refunds,"When is my refund?\nRefund status","5 **days**","refunds",published\n'
        "Secret,Hidden question,Not yet,,draft\n",
        encoding="utf-8",
    )
    shipping, refunds, secret = load_articles(path)
    assert shipping.questions == ("How long is shipping?", "When will it arrive?")
    assert shipping.tags == ("shipping", "orders")
    assert shipping.status == ArticleStatus.PUBLISHED
    assert refunds.questions == ("When is my refund?", "Refund status")
    assert refunds.answer == "5 **days**"
    assert secret.status == ArticleStatus.DRAFT


def test_csv_bad_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        "title,questions,answer\nOk,Question one,Fine\nBroken,Question two,   \n",
        encoding="utf-8",
    )
    with pytest.raises(ArticleImportError, match=r"row 3: field 'answer' is empty"):
        load_articles(path)


def test_csv_row_number_counts_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        'title,questions,answer\nOk,"q1\nq2",Fine\nBad,q3,Fine,extra\n', encoding="utf-8"
    )
    with pytest.raises(ArticleImportError, match=r"row 4"):
        load_articles(path)


def test_csv_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("title,answer\nA,B\n", encoding="utf-8")
    with pytest.raises(ArticleImportError, match="column 'questions'"):
        load_articles(path)


@pytest.mark.parametrize(
    ("article", "message"),
    [
        ({"questions": ["q"], "answer": "a"}, "article 2: field 'title' is missing"),
        ({"title": "T", "questions": [], "answer": "a"}, "article 2: field 'questions' is empty"),
        (
            {"title": "T", "questions": ["q"], "answer": "a", "status": "live"},
            "article 2: field 'status' must be",
        ),
        ({"title": "T", "questions": [1], "answer": "a"}, "article 2: field 'questions'"),
        ("not an object", "article 2: an article must be an object"),
    ],
)
def test_json_bad_article_is_named_and_nothing_imported(
    tmp_path: Path, article: object, message: str
) -> None:
    path = tmp_path / "kb.json"
    good = {"title": "Good", "questions": ["q"], "answer": "a"}
    path.write_text(json.dumps([good, article]), encoding="utf-8")
    with pytest.raises(ArticleImportError, match=message):
        load_articles(path)


def test_invalid_json_and_unknown_type(tmp_path: Path) -> None:
    bad = tmp_path / "kb.json"
    bad.write_text('[{"title": "x",\n oops}]', encoding="utf-8")
    with pytest.raises(ArticleImportError, match="line 2"):
        load_articles(bad)
    other = tmp_path / "kb.yaml"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(ArticleImportError, match="unsupported"):
        load_articles(other)


def test_errors_locate_line_file_and_field(tmp_path: Path) -> None:
    """The API's error body reads these: where (line, file) and which field."""
    path = tmp_path / "kb.csv"
    path.write_text("title,questions,answer\nOk,q,a\nBad,q,\n", encoding="utf-8")
    with pytest.raises(ArticleImportError) as caught:
        load_articles(path)
    assert caught.value.details() == {"line": 3, "file": None, "field": "answer"}
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: A\nquestions: [q]\nnot a field\n---\nA\n")
    with pytest.raises(ArticleImportError) as caught:
        load_articles(folder)
    assert caught.value.details() == {"line": 4, "file": "a.md", "field": None}


def test_a_csv_cell_over_the_csv_modules_limit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("title,questions,answer\nOk,q,a\nHuge,q," + "x" * 200_000 + "\n",
                    encoding="utf-8")
    with pytest.raises(ArticleImportError, match="row 3: field larger than field limit"):
        load_articles(path)


def test_an_article_over_the_editing_limits_is_refused(tmp_path: Path) -> None:
    """What the admin page could not save is not imported either: the limits are one."""
    path = tmp_path / "kb.json"
    too_many = [f"question {n}" for n in range(MAX_ARTICLE_QUESTIONS + 1)]
    path.write_text(json.dumps([{"title": "Ok", "questions": ["q"], "answer": "a"},
                                {"title": "Many", "questions": too_many, "answer": "a"}]))
    with pytest.raises(ArticleImportError) as caught:
        load_articles(path)
    assert caught.value.field == "questions"
    assert f"more than {MAX_ARTICLE_QUESTIONS} phrasings" in str(caught.value)
    path.write_text(json.dumps([{"title": "Long", "questions": ["q"],
                                 "answer": "x" * (MAX_ARTICLE_TEXT + 1)}]))
    with pytest.raises(ArticleImportError, match=r"field 'answer' is longer than"):
        load_articles(path)
