"""Rules, once for both engines (see sql.py): meta, users and sessions, agents, canned
responses."""

from __future__ import annotations

from hub.model import Role, User
from hub.store.base import Conflict, NotFound
from hub.store.base_contacts import CannedResponse
from hub.store.rows import user_from_row
from hub.store.sql import (
    Rule,
    Sql,
    UniqueViolation,
    count,
    one,
    reads,
    rows,
    writes,
    writes_one,
)

PING = Sql("SELECT 1")
GET_META = Sql("SELECT value FROM meta WHERE key = $1")
ADD_META = Sql("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")

INSERT_USER = Sql(
    "INSERT INTO users (email, name, role, password_hash, active, created_at)"
    " VALUES ($1, $2, $3, $4, {true}, {now}) RETURNING *")
SET_PASSWORD = Sql("UPDATE users SET password_hash = $1 WHERE email = $2 RETURNING *")
USER_BY_ID = Sql("SELECT * FROM users WHERE id = $1")
USER_BY_EMAIL = Sql("SELECT * FROM users WHERE email = $1")
ALL_USERS = Sql("SELECT * FROM users ORDER BY id")
UPDATE_USER = Sql(
    "UPDATE users SET name = COALESCE($1, name), role = COALESCE($2, role),"
    " active = COALESCE($3, active), status = COALESCE($4, status) WHERE id = $5 RETURNING *")
END_USER_SESSIONS = Sql("DELETE FROM sessions WHERE user_id = $1")
INSERT_SESSION = Sql("INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
                     " VALUES ($1, $2, {now}, $3)")
SESSION_USER = Sql(
    "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = {true}")
DELETE_SESSION = Sql("DELETE FROM sessions WHERE token_hash = $1")
DELETE_USER_SESSIONS = Sql("DELETE FROM sessions WHERE user_id = $1")
OPEN_COUNTS = Sql(
    "SELECT assigned_agent_id AS agent, COUNT(*) AS n FROM conversations"
    " WHERE state = 'assigned' AND assigned_agent_id IS NOT NULL GROUP BY assigned_agent_id")

ALL_CANNED = Sql("SELECT * FROM canned_responses ORDER BY shortcut")
INSERT_CANNED = Sql("INSERT INTO canned_responses (shortcut, text, created_at)"
                    " VALUES ($1, $2, {now}) RETURNING id")
UPDATE_CANNED = Sql("UPDATE canned_responses SET shortcut = $1, text = $2 WHERE id = $3"
                    " RETURNING id")
DELETE_CANNED = Sql("DELETE FROM canned_responses WHERE id = $1")


class UserRules:
    @reads
    def ping(self) -> Rule[None]:
        yield one(PING)

    @reads
    def get_meta(self, key: str) -> Rule[str | None]:
        row = yield one(GET_META, key)
        return None if row is None else str(row["value"])

    @writes
    def set_meta_default(self, key: str, value: str) -> Rule[str]:
        yield count(ADD_META, key, value)
        return str((yield one(GET_META, key))["value"])

    # users and sessions --------------------------------------------------
    @writes_one
    def create_user(self, email: str, name: str, role: Role, password_hash: str) -> Rule[User]:
        try:
            row = yield one(INSERT_USER, email, name, role.value, password_hash)
        except UniqueViolation:
            raise Conflict(f"a user with email {email} exists already") from None
        return user_from_row(row)

    @writes
    def update_user_password(self, email: str, password_hash: str) -> Rule[User]:
        row = yield one(SET_PASSWORD, password_hash, email)
        if row is None:
            raise NotFound(f"no user with email {email}")
        yield count(END_USER_SESSIONS, row["id"])
        return user_from_row(row)

    @reads
    def get_user(self, user_id: int) -> Rule[User | None]:
        row = yield one(USER_BY_ID, user_id)
        return None if row is None else user_from_row(row)

    @reads
    def get_user_by_email(self, email: str) -> Rule[User | None]:
        row = yield one(USER_BY_EMAIL, email)
        return None if row is None else user_from_row(row)

    @writes_one
    def create_session(self, token_hash: str, user_id: int, expires_at: float) -> Rule[None]:
        yield count(INSERT_SESSION, token_hash, user_id, expires_at)

    @reads
    def session_user(self, token_hash: str, now: float) -> Rule[User | None]:
        row = yield one(SESSION_USER, token_hash, now)
        return None if row is None else user_from_row(row)

    @writes_one
    def delete_session(self, token_hash: str) -> Rule[None]:
        yield count(DELETE_SESSION, token_hash)

    @writes_one
    def delete_user_sessions(self, user_id: int) -> Rule[None]:
        yield count(DELETE_USER_SESSIONS, user_id)

    # agents --------------------------------------------------------------
    @reads
    def list_users(self) -> Rule[list[User]]:
        return [user_from_row(r) for r in (yield rows(ALL_USERS))]

    @writes
    def update_user(self, user_id: int, *, name: str | None = None, role: Role | None = None,
                    active: bool | None = None, status: str | None = None) -> Rule[User]:
        """Deactivating a user ends their sessions in the same transaction."""
        row = yield one(UPDATE_USER, name, None if role is None else role.value, active,
                        status, user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found")
        if not row["active"]:
            yield count(END_USER_SESSIONS, user_id)
        return user_from_row(row)

    @reads
    def open_counts(self) -> Rule[dict[int, int]]:
        return {int(r["agent"]): int(r["n"]) for r in (yield rows(OPEN_COUNTS))}

    # canned responses ------------------------------------------------------
    @reads
    def list_canned(self) -> Rule[list[CannedResponse]]:
        return [CannedResponse(int(r["id"]), r["shortcut"], r["text"])
                for r in (yield rows(ALL_CANNED))]

    @writes_one
    def save_canned(self, shortcut: str, text: str,
                    canned_id: int | None = None) -> Rule[CannedResponse]:
        try:
            if canned_id is None:
                row = yield one(INSERT_CANNED, shortcut, text)
            else:
                row = yield one(UPDATE_CANNED, shortcut, text, canned_id)
        except UniqueViolation:
            raise Conflict(f"the shortcut {shortcut!r} is taken") from None
        if row is None:
            raise NotFound(f"canned response {canned_id} not found")
        return CannedResponse(int(row["id"]), shortcut, text)

    @writes_one
    def delete_canned(self, canned_id: int) -> Rule[None]:
        if (yield count(DELETE_CANNED, canned_id)) == 0:
            raise NotFound(f"canned response {canned_id} not found")
