-- embed(text [, model := NULL] [, on_error := 'raise']) -> FLOAT[d]
--   The L2-normalised embedding of text with the connection's default model (all-MiniLM-L6-v2: FLOAT[384]).
--   NULL text -> NULL. '' and whitespace-only text are embedded like any text (special tokens only).
--   Text longer than the model's max_seq_length (256 tokens by default) is truncated.
--   model := another model with the same dimension; use embed_list for any other width.
--   on_error := 'raise' (default): a text that makes the model fail raises an error naming the row and the fix;
--   'null': only such rows give NULL, counted in sqlml_stats(). Invalid arguments (an unknown model) raise
--   under both. Every public function takes on_error (see docs/reliability.md).
--   Example: SELECT array_cosine_similarity(embed(a), embed(b)) FROM pairs;
CREATE OR REPLACE MACRO sqlml.main.embed(text, model := NULL, on_error := 'raise') AS _sqlml_embed(text, model, on_error);

-- embed_list(text [, model := NULL] [, on_error := 'raise']) -> FLOAT[]
--   Same vector as a variable-length list: works with any model width (cast with ::FLOAT[768] if needed).
CREATE OR REPLACE MACRO sqlml.main.embed_list(text, model := NULL, on_error := 'raise') AS _sqlml_embed_list(text, model, on_error);
