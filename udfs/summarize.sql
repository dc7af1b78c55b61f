-- summarize(text [, n := 3] [, model := NULL] [, on_error := 'raise']) -> VARCHAR
--   An extractive summary: the n most representative sentences of text, verbatim, in their original
--   order, joined with one space. Sentences are embedded, clustered with k-means (k = 3·n, fixed seed)
--   and the best sentence of each of the n largest clusters is kept, with a prior for earlier sentences
--   and bylines/time stamps passed over (see summarize_explain for why).
--   SUMMARIZE is a DuckDB keyword: call it as sqlml.summarize(text) or text.summarize().
--   NULL text or NULL n -> NULL. '' and whitespace-only text (no sentences) -> NULL.
--   Fewer distinct sentences than n -> all of them, in order (a repeated sentence appears once).
--   n <= 0 -> error (under both on_error policies). n may be a column (one length per row).
--   on_error := 'null': a text that makes summarization fail gives NULL (counted in sqlml_stats()) instead of an error.
--   Example: SELECT id, sqlml.summarize(body) AS gist FROM 'articles.parquet';
--            SELECT category, sqlml.summarize(string_agg(body, ' '), n := 5) FROM news GROUP BY category;
CREATE OR REPLACE MACRO sqlml.main.summarize(text, n := 3, model := NULL, on_error := 'raise') AS _sqlml_summarize(text, n, model, on_error);

-- summarize_explain(text [, n := 3] [, model := NULL] [, on_error := 'raise'])
--     -> STRUCT(position INTEGER, sentence VARCHAR, cluster INTEGER, cluster_size INTEGER, score DOUBLE, selected BOOLEAN,
--               cluster_similarity DOUBLE, centrality DOUBLE, position_prior DOUBLE, boilerplate BOOLEAN)[]
--   One struct per sentence of text, in order: position (0-based), the sentence verbatim, its k-means
--   cluster (numbered by first appearance), the cluster's size, its score (= cluster_similarity, the
--   cosine similarity to the cluster centroid, + centrality, the cosine similarity to the whole text's
--   centroid, + position_prior, 0.25·(1 − p/m) for the p-th of the text's m non-boilerplate sentences;
--   the best score of a cluster among its non-boilerplate sentences makes its representative, the
--   earlier sentence on a tie), whether it is in the summary (the representatives of the n largest
--   clusters) and whether it is boilerplate (a byline, time stamp, "Scroll down for video": never a
--   representative while the text has other sentences). The selected sentences joined with a space are exactly
--   summarize(text, n). NULL/empty text or NULL n -> NULL; n <= 0 -> error; on_error as summarize.
--   Example: SELECT s.position, s.sentence, s.cluster, s.cluster_size, s.score, s.selected
--            FROM (SELECT unnest(summarize_explain(body, n := 3)) AS s FROM news WHERE id = 42);
CREATE OR REPLACE MACRO sqlml.main.summarize_explain(text, n := 3, model := NULL, on_error := 'raise') AS _sqlml_summarize_explain(text, n, model, on_error);
