-- The knowledge base: sources, the files seen in them, document versions
-- stored once by content hash, and their chunks indexed by FTS5 (BM25).

CREATE TABLE knowledge_sources (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('folder', 's3')),
    path         TEXT NOT NULL DEFAULT '',
    bucket       TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL DEFAULT '',
    visibility   TEXT NOT NULL CHECK (visibility IN ('staff', 'everyone')),
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_scan_at TEXT NOT NULL DEFAULT '',
    last_error   TEXT NOT NULL DEFAULT '',
    UNIQUE (kind, path, bucket, prefix)
) STRICT;

CREATE TABLE knowledge_documents (
    id         TEXT PRIMARY KEY, -- SHA-256 of the content
    title      TEXT NOT NULL,
    format     TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    chunks     INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE knowledge_chunks (
    id              INTEGER PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES knowledge_documents (id),
    ordinal         INTEGER NOT NULL,
    headings        TEXT NOT NULL, -- heading path, one per line
    body            TEXT NOT NULL,
    tokens          INTEGER NOT NULL,
    embedding       BLOB,          -- float32 little-endian
    embedding_model TEXT NOT NULL DEFAULT '',
    UNIQUE (document_id, ordinal)
) STRICT;
CREATE INDEX knowledge_chunks_model ON knowledge_chunks (embedding_model) WHERE embedding IS NOT NULL;

CREATE VIRTUAL TABLE knowledge_fts USING fts5 (
    headings, body,
    content = 'knowledge_chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER knowledge_chunks_fts_insert AFTER INSERT ON knowledge_chunks BEGIN
    INSERT INTO knowledge_fts (rowid, headings, body) VALUES (new.id, new.headings, new.body);
END;
CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
    INSERT INTO knowledge_fts (knowledge_fts, rowid, headings, body) VALUES ('delete', old.id, old.headings, old.body);
END;

CREATE TABLE knowledge_files (
    source_id   TEXT NOT NULL REFERENCES knowledge_sources (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mod_time    TEXT NOT NULL DEFAULT '',
    etag        TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL DEFAULT '',
    document_id TEXT REFERENCES knowledge_documents (id),
    status      TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
    reason      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source_id, path),
    CHECK ((status = 'indexed') = (document_id IS NOT NULL))
) STRICT;
CREATE INDEX knowledge_files_document ON knowledge_files (document_id);
