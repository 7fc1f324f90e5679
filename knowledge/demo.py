"""The bundled demo knowledge base (a fictional online shop)."""

from __future__ import annotations

from pathlib import Path

from hub.store import Store
from hub.store.base_kb import DEMO
from knowledge.importer import load_articles

DEMO_KB = Path(__file__).parent / "demo_kb.json"


async def load_demo(store: Store) -> int:
    """Add the demo articles unless the knowledge base already has articles."""
    if await store.list_articles():
        return 0
    created = await store.create_articles(load_articles(DEMO_KB), author=DEMO,
                                          only_if_empty=True)
    return len(created)
