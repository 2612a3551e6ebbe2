-- The assistant: conversations and their messages, language model
-- providers, and daily usage per user.

CREATE TABLE conversations (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    patient_id text REFERENCES patients (id),
    title      text NOT NULL,
    provider   text NOT NULL DEFAULT '',
    model      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX conversations_user ON conversations (user_id, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX conversations_deleted ON conversations (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE messages (
    id              text PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('streaming', 'complete', 'stopped', 'failed')),
    notice          text NOT NULL DEFAULT '',
    citations       jsonb NOT NULL DEFAULT '[]',
    provider        text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    tokens_in       integer NOT NULL DEFAULT 0,
    tokens_out      integer NOT NULL DEFAULT 0,
    redacted        integer NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE llm_providers (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('offline', 'openai', 'bedrock')),
    base_url   text NOT NULL DEFAULT '',
    region     text NOT NULL DEFAULT '',
    external   boolean NOT NULL,
    enabled    boolean NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    models     jsonb NOT NULL DEFAULT '[]',
    api_key    text NOT NULL DEFAULT '', -- sealed
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ai_usage (
    user_id    text NOT NULL REFERENCES users (id),
    day        date NOT NULL,
    messages   integer NOT NULL,
    tokens_in  bigint NOT NULL,
    tokens_out bigint NOT NULL,
    PRIMARY KEY (day, user_id)
);
