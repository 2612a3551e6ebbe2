-- A passage row (about 1 KB of text and its tsvector) is just over the size
-- at which PostgreSQL compresses values with pglz, which cost ingestion
-- about a tenth of its time and every search that ranks the row a
-- decompression. Rows up to a page are now stored as they are.
ALTER TABLE knowledge_chunks SET (toast_tuple_target = 8160);
