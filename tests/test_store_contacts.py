"""The contacts side of the store contract, on SQLite and PostgreSQL alike: phone numbers
joining SMS and WhatsApp, identities joined to a contact (link codes), merges and their
undo, agents and canned responses."""

from __future__ import annotations

import time

import pytest

from hub.model import Author, InboundMessage, NewMessage, Role
from hub.store import Conflict, NotFound, Store

PHONE = "+15551230001"



async def say(store: Store, channel: str, who: str, text: str) -> int:
    ingested = await store.ingest(InboundMessage(channel, who, text))
    await store.record_turn(ingested.conversation.id, handled_message_id=ingested.message.id)
    return ingested.conversation.id


async def test_sms_and_whatsapp_from_one_number_are_one_contact(store: Store) -> None:
    first = await say(store, "sms", PHONE, "hello by sms")
    second = await say(store, "whatsapp", PHONE, "hello by whatsapp")
    assert first == second
    conversation = await store.get_conversation(first)
    assert conversation is not None and conversation.channel == "whatsapp"
    contact = await store.get_contact(conversation.contact_id)
    assert contact is not None
    assert {(i.channel, i.external_id) for i in contact.identities} == {
        ("sms", PHONE), ("whatsapp", PHONE)}
    # a reply may go to either channel of the number
    turn = await store.record_turn(first, [NewMessage(Author.BOT, "on sms", channel="sms")])
    assert turn.messages[0].channel == "sms"
    other = await say(store, "sms", "+15559990000", "someone else")
    assert other != first


async def test_a_link_code_joins_the_identity_and_its_messages_to_the_thread(
    store: Store,
) -> None:
    web = await store.start_conversation("webchat", "visitor-1")
    await say(store, "webchat", "visitor-1", "where is my order?")
    await store.create_link_code("hash-1", web.contact_id, "telegram", time.time() + 60)
    # the code arrives from Telegram: committed first (a contact of its own), then redeemed
    fresh = await say(store, "telegram", "42", "ABCD-2345")
    assert fresh != web.id
    redeemed = await store.redeem_link_code("hash-1", "telegram", "42", time.time())
    assert redeemed.status == "linked" and redeemed.joined is not None
    thread = redeemed.joined.conversation
    assert thread.id == web.id and thread.channel == "telegram"
    assert redeemed.joined.removed is not None and redeemed.joined.removed.id == fresh
    assert await store.get_conversation(fresh) is None
    texts = [(m.channel, m.text) for m in await store.list_messages(web.id)]
    assert texts == [("webchat", "where is my order?"), ("telegram", "ABCD-2345")]
    contact = await store.get_contact(web.contact_id)
    assert contact is not None
    assert {i.channel for i in contact.identities} == {"webchat", "telegram"}
    assert contact.conversation_ids == (web.id,)
    # the next Telegram message lands in the same thread, and replies can go there
    assert await say(store, "telegram", "42", "any news?") == web.id
    turn = await store.record_turn(web.id, [NewMessage(Author.BOT, "yes")])
    assert turn.messages[0].channel == "telegram"
    # the same identity redeeming again (a redelivery) is told linked; anyone else: used
    again = await store.redeem_link_code("hash-1", "telegram", "42", time.time())
    assert again.status == "linked"
    other = await store.redeem_link_code("hash-1", "telegram", "43", time.time())
    assert other.status == "used" and other.joined is None
    assert (await store.find_conversation("telegram", "43")) is None


async def test_expired_and_unknown_codes_link_nothing(store: Store) -> None:
    web = await store.start_conversation("webchat", "visitor-2")
    await store.create_link_code("hash-2", web.contact_id, "sms", time.time() - 1)
    own = await say(store, "sms", PHONE, "ABCD-2345")
    assert (await store.redeem_link_code("hash-2", "sms", PHONE, time.time())).status \
        == "expired"
    assert (await store.redeem_link_code("nope", "sms", PHONE, time.time())).status \
        == "unknown"
    contact = await store.get_contact(web.contact_id)
    assert contact is not None and [i.channel for i in contact.identities] == ["webchat"]
    assert (await store.find_conversation("sms", PHONE)).id == own  # type: ignore[union-attr]


async def test_attach_identity_makes_devices_one_contact(store: Store) -> None:
    first = await store.start_conversation("webchat", "device-1")
    joined = await store.attach_identity(first.contact_id, "web_user", "user-7")
    assert joined.conversation.id == first.id and joined.removed is None
    await say(store, "webchat", "device-1", "hi from the laptop")
    second = await store.start_conversation("webchat", "device-2")
    joined = await store.attach_identity(first.contact_id, "webchat", "device-2")
    assert joined.conversation.id == first.id
    assert (await store.find_conversation("webchat", "device-2")).id == first.id  # type: ignore[union-attr]
    assert await store.get_conversation(second.id) is None


async def test_merge_then_undo_restores_both_exactly(store: Store) -> None:
    a = await store.get_conversation(await say(store, "telegram", "1", "I am A"))
    b = await store.get_conversation(await say(store, "slack", "U2", "I am B"))
    assert a is not None and b is not None
    await store.update_contact(a.contact_id, name="Ann", attributes={"plan": "pro"})
    await store.update_contact(b.contact_id, name="Bea", email="bea@example.com",
                               attributes={"plan": "free", "city": "Oslo"})
    before_a = await store.get_contact(a.contact_id)
    before_b = await store.get_contact(b.contact_id)
    merge = await store.merge_contacts(a.contact_id, b.contact_id)
    merged = merge.contact
    assert merged.id == a.contact_id and merged.name == "Ann"
    assert merged.email == "bea@example.com"
    assert dict(merged.attributes) == {"plan": "pro", "city": "Oslo"}
    assert {i.channel for i in merged.identities} == {"telegram", "slack"}
    assert set(merged.conversation_ids) == {a.id, b.id}
    gone = await store.get_contact(b.contact_id)
    assert gone is not None and gone.merged_into == a.contact_id
    with pytest.raises(Conflict):
        await store.merge_contacts(a.contact_id, b.contact_id)
    survivor, other = await store.undo_merge(merge.merge_id)
    assert survivor == before_a and other == before_b
    with pytest.raises(Conflict):
        await store.undo_merge(merge.merge_id)
    with pytest.raises(NotFound):
        await store.undo_merge(9999)
    with pytest.raises(Conflict):
        await store.merge_contacts(a.contact_id, a.contact_id)


async def test_search_finds_conversations_by_text_and_contact(store: Store) -> None:
    one = await say(store, "sms", PHONE, "My parcel is LATE_100%")
    two = await say(store, "telegram", "77", "hello")
    contact = (await store.get_conversation(two)).contact_id  # type: ignore[union-attr]
    await store.update_contact(contact, name="Zed Quux")
    assert await store.search_conversation_ids("late_100%") == [one]
    assert await store.search_conversation_ids("late_1000") == []
    assert await store.search_conversation_ids("quux") == [two]
    assert await store.search_conversation_ids("555123") == [one]


async def test_users_deactivate_role_status_and_sessions(store: Store) -> None:
    user = await store.create_user("ann@example.com", "Ann", Role.AGENT, "x")
    await store.create_session("tok", user.id, time.time() + 60)
    assert user.status == "away"
    online = await store.update_user(user.id, status="online", role=Role.ADMIN)
    assert online.status == "online" and online.role is Role.ADMIN and online.active
    assert await store.session_user("tok", time.time()) is not None
    off = await store.update_user(user.id, active=False)
    assert not off.active
    assert await store.session_user("tok", time.time()) is None
    await store.update_user(user.id, active=True)
    assert await store.session_user("tok", time.time()) is None  # the session ended for good
    assert [u.email for u in await store.list_users()] == ["ann@example.com"]
    with pytest.raises(NotFound):
        await store.update_user(999, name="x")


async def test_open_counts_and_canned_responses(store: Store) -> None:
    from hub.model import ConversationState

    user = await store.create_user("ann@example.com", "Ann", Role.AGENT, "x")
    conversation = await say(store, "sms", PHONE, "help")
    await store.record_turn(conversation, new_state=ConversationState.ASSIGNED, agent_id=user.id)
    assert await store.open_counts() == {user.id: 1}
    hello = await store.save_canned("hello", "Hi {{first_name}}!")
    assert [c.shortcut for c in await store.list_canned()] == ["hello"]
    with pytest.raises(Conflict):
        await store.save_canned("hello", "again")
    changed = await store.save_canned("hi", "Hello {{first_name}}", hello.id)
    assert changed.id == hello.id
    await store.delete_canned(hello.id)
    assert await store.list_canned() == []
    with pytest.raises(NotFound):
        await store.delete_canned(hello.id)


async def test_read_marks_are_per_agent_and_never_move_backwards(store: Store) -> None:
    ann = await store.create_user("ann@example.com", "Ann", Role.AGENT, "x")
    bob = await store.create_user("bob@example.com", "Bob", Role.AGENT, "x")
    first = await say(store, "sms", PHONE, "one")
    await store.record_turn(first, [NewMessage(Author.BOT, "a bot answer")])
    await say(store, "sms", PHONE, "two")
    other = await say(store, "sms", "+15559990000", "someone else")
    silent = await store.start_conversation("webchat", "visitor-9")
    ids = [first, other, silent.id]
    # never opened: every customer message counts (bot replies do not)
    assert await store.unread_counts(ann.id, ids) == {first: 2, other: 1, silent.id: 0}
    assert await store.unread_counts(ann.id, []) == {}
    messages = await store.list_messages(first)
    await store.mark_read(ann.id, first, messages[0].id)
    assert (await store.unread_counts(ann.id, ids))[first] == 1
    await store.mark_read(ann.id, first, messages[-1].id)
    await store.mark_read(ann.id, first, messages[0].id)  # an older mark changes nothing
    assert await store.unread_counts(ann.id, ids) == {first: 0, other: 1, silent.id: 0}
    # Bob's counts are his own
    assert await store.unread_counts(bob.id, ids) == {first: 2, other: 1, silent.id: 0}
    await say(store, "sms", PHONE, "three")
    assert (await store.unread_counts(ann.id, [first]))[first] == 1
    # a mark past the newest message stops there: later messages still count as unread
    await store.mark_read(bob.id, first, 2**62)
    assert (await store.unread_counts(bob.id, [first]))[first] == 0
    await say(store, "sms", PHONE, "four")
    assert (await store.unread_counts(bob.id, [first]))[first] == 1
    with pytest.raises(NotFound):
        await store.mark_read(ann.id, 99999, 1)


async def test_a_folded_conversation_takes_its_read_marks_along(store: Store) -> None:
    ann = await store.create_user("ann@example.com", "Ann", Role.AGENT, "x")
    web = await store.start_conversation("webchat", "visitor-1")
    await say(store, "webchat", "visitor-1", "where is my order?")
    await store.create_link_code("hash-r", web.contact_id, "telegram", time.time() + 60)
    fresh = await say(store, "telegram", "42", "ABCD-2345")
    last = (await store.list_messages(fresh))[-1]
    await store.mark_read(ann.id, fresh, last.id)
    redeemed = await store.redeem_link_code("hash-r", "telegram", "42", time.time())
    assert redeemed.status == "linked"
    assert await store.unread_counts(ann.id, [web.id]) == {web.id: 2}
