-- relevance(text, query [, model := NULL] [, on_error := 'raise']) -> FLOAT
--   Semantic relevance: cosine similarity in [-1, 1] between the embeddings of text and query
--   (the connection's default model unless model := names another). Each distinct query is embedded
--   once per call, not once per row; query may differ per row (e.g. one question per document).
--   NULL text or NULL query -> NULL. An empty or whitespace-only query is an error (under both on_error
--   policies). on_error := 'null': a text that makes the model fail gives NULL (counted in sqlml_stats()).
--   Lexical (BM25) and hybrid scoring need a whole corpus: use sqlml_search for them.
--   Example: SELECT id, relevance(body, 'central bank raises interest rates') AS score
--            FROM news ORDER BY score DESC LIMIT 10;
--   Top-k per group: SELECT category, max_by(id, relevance(body, 'election'), 3) FROM news GROUP BY category;
CREATE OR REPLACE MACRO sqlml.main.relevance(text, query, model := NULL, on_error := 'raise') AS _sqlml_relevance(text, query, model, on_error);

-- top_k_sentences(text, query [, k := 3, mode := 'semantic', model := NULL, on_error := 'raise']) -> VARCHAR[]
--   The k sentences of text most relevant to query, best first; ties keep text order. Sentences are
--   verbatim substrings (the project's one sentence splitter). Fewer than k sentences -> all of them,
--   ranked. mode: 'semantic' (cosine), 'lexical' (BM25 with the text's own sentences as the corpus;
--   sentences sharing no word with the query are left out) or 'hybrid' (0.5 × min-max-normalised
--   cosine + 0.5 × min-max-normalised BM25 over the text's sentences).
--   NULL text or NULL query -> NULL. Empty text -> []. Empty query, k <= 0 or another mode -> error.
--   on_error := 'null': a text that makes the model fail gives NULL (counted in sqlml_stats()).
--   Example: SELECT id, top_k_sentences(body, 'interest rates', k := 3) AS evidence FROM news;
CREATE OR REPLACE MACRO sqlml.main.top_k_sentences(text, query, k := 3, mode := 'semantic', model := NULL, on_error := 'raise') AS
    _sqlml_top_k_sentences(text, query, k, mode, model, on_error);

-- sqlml_search(table_name, column_name, query [, k := 10, mode := 'hybrid', model := NULL, on_error := 'raise'])
--   -> TABLE(every column of table_name, score DOUBLE, rank BIGINT), best first (rank 1..k)
--   Exact top-k rows of a table, view or file-backed relation named by a string, by the text in
--   column_name. mode: 'semantic' (score = cosine), 'lexical' (score = BM25 over all rows of the
--   table; rows sharing no word with the query are not returned) or 'hybrid' (default; score in
--   [0, 1] = 0.5 × min-max-normalised cosine + 0.5 × min-max-normalised BM25, over all rows).
--   Ties keep table order.
--   Rows with NULL text never match; a NULL query or an empty table gives no rows. Empty query,
--   k <= 0 or another mode -> error; an unknown column -> DuckDB's "Could not find key" error; a table
--   with its own score or rank column -> error naming it (search a view that renames it).
--   on_error := 'null': a row whose text makes the model fail is treated as NULL text (never matches).
--   Cost: every row's text is embedded (cached ones are read from the embedding cache) and BM25 reads
--   every row once; memory holds the texts plus a few floats per row, never all embeddings at once.
--   Example: SELECT * FROM sqlml_search('news', 'body', 'interest rates', k := 10, mode := 'hybrid');
CREATE OR REPLACE MACRO sqlml.main.sqlml_search(table_name, column_name, query, k := 10, mode := 'hybrid', model := NULL, on_error := 'raise') AS TABLE
    -- the table's columns travel inside one struct, so no name of the macro's can meet one of the table's
    WITH source AS MATERIALIZED (
        SELECT struct_pack(*COLUMNS(*)) AS fields, row_number() OVER () - 1 AS position FROM query_table(table_name)
    ),
    hits AS (
        SELECT unnest(_sqlml_search(
            list(struct_extract(fields, column_name) ORDER BY position),
            -- the column names, from a row of NULLs when the table is empty
            (SELECT struct_keys(struct_pack(*COLUMNS(named.*))) FROM (SELECT 1) LEFT JOIN (SELECT unnest(fields) FROM source LIMIT 1) named ON true),
            query, k, mode, model, on_error), recursive := true)
        FROM source
    )
    SELECT unnest(source.fields), hits.score, hits.rank
    FROM hits JOIN source ON source.position = hits.row
    ORDER BY hits.rank;
