"""``supporthub kb import|export|eval``: round trips in every format, all-or-nothing imports
whose errors name the line and field, a progress bar on request, and the CLINC150 eval."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.model import Article
from hub.store import make_store

DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/clinc150/data_full.json"
ARTICLES = {"articles": [
    {"title": "Parrots: care", "questions": ["what do parrots eat", "feeding a parrot"],
     "answer": "Seeds, *fruit*\nand greens.", "tags": ["pets", "birds"],
     "sms_answer": "Seeds and fruit."},
    {"title": 'Quotes "and" commas, too', "questions": ["a 'quoted' question, with commas"],
     "answer": "Yes.", "status": "draft"},
]}


def _articles(db: str) -> list[Article]:
    async def run() -> list[Article]:
        store = make_store(db)
        await store.open()
        try:
            return await store.list_articles()
        finally:
            await store.close()

    return asyncio.run(run())


def _shape(articles: list[Article]) -> list[tuple[object, ...]]:
    return [(a.title, a.questions, a.answer, a.tags, a.status, a.sms_answer) for a in articles]


@pytest.mark.parametrize("target", ["kb.json", "kb.csv", "folder"])
def test_export_then_import_round_trips(tmp_path: Path, target: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(ARTICLES), encoding="utf-8")
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["kb", "import", str(source), "--db", first]) == 0
    assert main(["kb", "export", str(tmp_path / target), "--db", first]) == 0
    if target == "folder":
        files = sorted((tmp_path / "folder").glob("*.md"))
        assert len(files) == 2 and files[0].read_text().startswith("---\nid: 1\n")
    assert main(["kb", "import", str(tmp_path / target), "--db", second]) == 0
    assert _shape(_articles(second)) == _shape(_articles(first))
    assert _articles(first)[0].sms_answer == "Seeds and fruit."
    assert "imported 2 articles" in capsys.readouterr().out


def test_export_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    source = tmp_path / "in.json"
    source.write_text(json.dumps(ARTICLES), encoding="utf-8")
    main(["kb", "import", str(source), "--db", db])
    capsys.readouterr()
    assert main(["kb", "export", "-", "--format", "csv", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("id,title,questions,answer,sms_answer")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.json", '[\n  {"title": "Good", "questions": ["q"], "answer": "a"},\n'
                 '  {"title": "Bad", "questions": ["q"],\n   "answer": ""}\n]',
     "article 2: field 'answer' is empty (line 3)"),
    ("bad.csv", "title,questions,answer\nOk,q,a\nBad,,a\n", "row 3: field 'questions'"),
])
def test_a_broken_import_changes_nothing(tmp_path: Path, name: str, content: str,
                                         message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["kb", "import", str(tmp_path / name), "--db", db]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was imported" in err
    assert _articles(db) == []


def test_a_broken_markdown_file_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Fine\nquestions:\n  - q\n---\nAnswer.\n")
    (folder / "b.md").write_text("---\ntitle: Broken\nquestions: []\n---\nAnswer.\n")
    (folder / "c.md").write_text("---\ntitle: \"unterminated\nquestions: [q]\n---\nA\n")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["kb", "import", str(folder), "--db", db]) == 2
    assert "b.md: field 'questions' is empty" in capsys.readouterr().err
    (folder / "b.md").unlink()
    assert main(["kb", "import", str(folder), "--db", db]) == 2
    assert "c.md: line 2: bad double-quoted string" in capsys.readouterr().err
    assert _articles(db) == []


def test_progress_bar_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = {"articles": [{"title": f"T{i}", "questions": [f"question {i}"], "answer": "a"}
                         for i in range(300)]}
    source = tmp_path / "many.json"
    source.write_text(json.dumps(many), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["kb", "import", str(source), "--db", db]) == 0
    assert "[" not in capsys.readouterr().err  # not a terminal: quiet
    assert main(["kb", "import", str(source), "--db", db, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "300/300 100%" in captured.err and "writing 300 articles" in captured.err
    assert "300/300" not in captured.out


@pytest.mark.skipif(not DATASET.exists(), reason="../shared/datasets/clinc150 is missing")
def test_eval_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "eval", "--dataset", str(DATASET), "--k", "10", "--limit", "300"]) == 0
    out = capsys.readouterr().out
    for label in ["top-1 accuracy", "top-3 recall", "direct-answer precision",
                  "in scope answered directly and right", "out of scope answered directly",
                  "match latency p50", "match latency p99"]:
        line = next(line for line in out.splitlines() if line.startswith(label))
        assert line.rstrip().endswith(("%", " ms")), line
    assert "K=10" in out and "K=100" not in out


def test_eval_without_the_dataset_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kb", "eval", "--dataset", str(tmp_path / "none.json")]) == 2
    assert "no such dataset" in capsys.readouterr().err
