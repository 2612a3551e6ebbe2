-- The knowledge base: sources, the files seen in them, document versions
-- stored once by content hash, and their chunks with a full-text index.

CREATE TABLE knowledge_sources (
    id           text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('folder', 's3')),
    path         text NOT NULL DEFAULT '',
    bucket       text NOT NULL DEFAULT '',
    prefix       text NOT NULL DEFAULT '',
    visibility   text NOT NULL CHECK (visibility IN ('staff', 'everyone')),
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_scan_at timestamptz,
    last_error   text NOT NULL DEFAULT '',
    UNIQUE (kind, path, bucket, prefix)
);

CREATE TABLE knowledge_documents (
    id         text PRIMARY KEY, -- SHA-256 of the content
    title      text NOT NULL,
    format     text NOT NULL,
    bytes      bigint NOT NULL,
    chunks     integer NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE knowledge_chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     text NOT NULL REFERENCES knowledge_documents (id),
    ordinal         integer NOT NULL,
    headings        text NOT NULL, -- heading path, one per line
    body            text NOT NULL,
    tokens          integer NOT NULL,
    embedding       bytea,         -- float32 little-endian
    embedding_model text NOT NULL DEFAULT '',
    tsv             tsvector GENERATED ALWAYS AS (
                        setweight(to_tsvector('english', headings), 'A') ||
                        setweight(to_tsvector('english', body), 'B')) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX knowledge_chunks_tsv ON knowledge_chunks USING gin (tsv);
CREATE INDEX knowledge_chunks_model ON knowledge_chunks (embedding_model) WHERE embedding IS NOT NULL;

CREATE TABLE knowledge_files (
    source_id   text NOT NULL REFERENCES knowledge_sources (id) ON DELETE CASCADE,
    path        text NOT NULL,
    size        bigint NOT NULL,
    mod_time    timestamptz,
    etag        text NOT NULL DEFAULT '',
    hash        text NOT NULL DEFAULT '',
    document_id text REFERENCES knowledge_documents (id),
    status      text NOT NULL CHECK (status IN ('indexed', 'failed')),
    reason      text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (source_id, path),
    CHECK ((status = 'indexed') = (document_id IS NOT NULL))
);
CREATE INDEX knowledge_files_document ON knowledge_files (document_id);
