-- The assistant: conversations and their messages, language model
-- providers, and daily usage per user.

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    patient_id TEXT REFERENCES patients (id),
    title      TEXT NOT NULL,
    provider   TEXT NOT NULL DEFAULT '',
    model      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conversations_user ON conversations (user_id, deleted_at, updated_at DESC, id DESC);
CREATE INDEX conversations_deleted ON conversations (deleted_at) WHERE deleted_at <> '';

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('streaming', 'complete', 'stopped', 'failed')),
    notice          TEXT NOT NULL DEFAULT '',
    citations       TEXT NOT NULL DEFAULT '[]',
    provider        TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    tokens_in       INTEGER NOT NULL DEFAULT 0,
    tokens_out      INTEGER NOT NULL DEFAULT 0,
    redacted        INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE llm_providers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('offline', 'openai', 'bedrock')),
    base_url   TEXT NOT NULL DEFAULT '',
    region     TEXT NOT NULL DEFAULT '',
    external   INTEGER NOT NULL,
    enabled    INTEGER NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    models     TEXT NOT NULL DEFAULT '[]',
    api_key    TEXT NOT NULL DEFAULT '', -- sealed
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE ai_usage (
    user_id    TEXT NOT NULL REFERENCES users (id),
    day        TEXT NOT NULL,
    messages   INTEGER NOT NULL,
    tokens_in  INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    PRIMARY KEY (day, user_id)
);
