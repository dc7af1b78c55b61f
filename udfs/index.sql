-- sqlml_index(index_name, table_name, column_name, key := 'id' [, model := NULL, rebuild := false, chunk := NULL])
--   -> TABLE(name, version, rows, added, updated, removed, unchanged, skipped, seconds DOUBLE, bytes)
--   Build a named, persistent search index over the text column of a table, view or file-backed relation
--   (named by a string, like sqlml_search), or refresh it: run it again and only rows whose text changed (by
--   key) are embedded again, new keys are added and keys no longer present are removed; unchanged rows cost
--   no model call. The index lives in $SQLML_HOME/indexes/index_name: vectors, an HNSW graph (usearch) and
--   a BM25 index (bm25s), written as a new version and switched atomically (a crash leaves the previous
--   version searchable); a refresh that leaves at most 20 % of the rows changed or removed since the last
--   whole version writes only those rows, beside it. key := the unique key column (required; read as text): search results give it, to
--   join back. model: the embedding model (default the connection's); refreshing with another model is
--   refused unless rebuild := true, which re-embeds every row. chunk := 'sentences': a text longer than the
--   model window (256 tokens) is stored as sentence-aligned passages within the window, so nothing past the
--   window is invisible; searches return each key once, scored by its best passage (given in passage).
--   A table function: a UDF cannot query its own connection, so the macro reads the table and hands the
--   keys and texts over as two lists (as sqlml_train does); the table is read in full once per call.
--   NULL text -> the row is left out (counted in skipped). Errors: a NULL or repeated key, no key, no text
--   at all, another build of the same index running at the same time.
--   Example: SELECT * FROM sqlml_index('news_idx', 'news', 'body', key := 'id');
CREATE OR REPLACE MACRO sqlml.main.sqlml_index(index_name, table_name, column_name, key := NULL, model := NULL, rebuild := false, chunk := NULL) AS TABLE
    WITH source AS MATERIALIZED (
        SELECT struct_pack(*COLUMNS(*)) AS fields, row_number() OVER () - 1 AS position FROM query_table(table_name)
    )
    -- r.*, not unnest(): DuckDB would evaluate an unnested call once per field of the report
    SELECT r.* FROM (
        SELECT _sqlml_index(
            index_name,
            list(CASE WHEN key IS NULL THEN NULL ELSE struct_extract(fields, key)::VARCHAR END ORDER BY position),
            list(struct_extract(fields, column_name)::VARCHAR ORDER BY position),
            table_name || '.' || column_name, key, model, rebuild, chunk) AS r
        FROM source
    );

-- index_search(index_name, query [, k := 10, mode := 'semantic', keys := NULL, model := NULL])
--   -> STRUCT(key VARCHAR, score DOUBLE, rank BIGINT, passage VARCHAR)[], best first
--   Top-k keys of a named index for each query row: the lateral form, for a table of queries (the queries of
--   one chunk are embedded together and scored in one matrix product). mode: 'semantic' (cosine; exact up to
--   50,000 rows, the HNSW graph above), 'lexical' (BM25 from the stored index; rows sharing no word with the
--   query are left out) or 'hybrid' (0.5 x min-max cosine + 0.5 x min-max BM25, exact).
--   keys := a list of keys: search only those rows, with exact recall on them (a selective filter is scored
--   exactly, a broad one through the graph with a filter), e.g. keys := (SELECT list(id) FROM news WHERE ...).
--   model: default the index's own; another model is refused.
--   NULL query -> NULL. Errors: an unknown index (listing the known ones), k <= 0, another mode.
--   Example: SELECT q.id, h.key, h.score FROM queries q, unnest(index_search('news_idx', q.text, k := 3)) AS t(h);
CREATE OR REPLACE MACRO sqlml.main.index_search(index_name, query, k := 10, mode := 'semantic', keys := NULL, model := NULL) AS
    _sqlml_index_search(index_name, query, k, mode, keys::VARCHAR[], model);

-- sqlml_search_index(index_name, query [, k := 10, mode := 'semantic', keys := NULL, model := NULL])
--   -> TABLE(key VARCHAR, score DOUBLE, rank BIGINT, passage VARCHAR), best first (passage: the key's best
--   passage in a chunked index, else NULL)
--   One query against a named index, as a table to join back on the key. Arguments as index_search.
--   Example: SELECT n.*, h.score FROM sqlml_search_index('news_idx', 'interest rates', k := 10) h
--            JOIN news n ON n.id::VARCHAR = h.key ORDER BY h.rank;
--            SELECT * FROM sqlml_search_index('news_idx', 'rates', keys := (SELECT list(id) FROM news WHERE category = 'business'));
CREATE OR REPLACE MACRO sqlml.main.sqlml_search_index(index_name, query, k := 10, mode := 'semantic', keys := NULL, model := NULL) AS TABLE
    SELECT unnest(hits, recursive := true)
    FROM (SELECT unnest(_sqlml_index_search(index_name, query, k, mode, keys::VARCHAR[], model)) AS hits);

-- index_neighbours(index_name, key [, k := 5, other := NULL, min_score := NULL])
--   -> STRUCT(key VARCHAR, score DOUBLE, rank BIGINT, passage VARCHAR)[], nearest first
--   Semantic join and near-duplicates from stored vectors (no model call): the k rows nearest by cosine to
--   the row of key, in index other (default the same index, the row itself left out), each at least
--   min_score when given. Exact up to 50,000 rows of other, the HNSW graph above.
--   NULL key -> NULL; a key the index does not hold -> []. Both indexes must hold one model's embeddings.
--   Example (near-duplicates): SELECT id, index_neighbours('news_idx', id::VARCHAR, k := 3, min_score := 0.9) FROM news;
--            (tickets to known issues): SELECT t.id, index_neighbours('tickets_idx', t.id::VARCHAR, other := 'issues_idx', k := 1)[1].key FROM tickets t;
CREATE OR REPLACE MACRO sqlml.main.index_neighbours(index_name, key, k := 5, other := NULL, min_score := NULL) AS
    _sqlml_index_neighbours(index_name, key, other, k, min_score);

-- sqlml_indexes() -> TABLE(name, version, source, rows, model, dimension, bytes, updated_at, path, error)
--   Every index in $SQLML_HOME/indexes: its live version, what it was built from, rows, embedding model,
--   bytes on disk and when it was last built; error names an unreadable one.
--   Example: SELECT name, rows, bytes FROM sqlml_indexes();
CREATE OR REPLACE MACRO sqlml.main.sqlml_indexes() AS TABLE
    SELECT unnest(entry, recursive := true) FROM (SELECT unnest(_sqlml_indexes()) AS entry);

-- sqlml_drop_index(index_name) -> BOOLEAN
--   Remove a named index and every version of it; false when there was none.
--   Example: SELECT sqlml_drop_index('news_idx');
CREATE OR REPLACE MACRO sqlml.main.sqlml_drop_index(index_name) AS _sqlml_drop_index(index_name);
