-- embed(text [, model := NULL]) -> FLOAT[d]
--   The L2-normalised embedding of text with the connection's default model (all-MiniLM-L6-v2: FLOAT[384]).
--   NULL text -> NULL. '' and whitespace-only text are embedded like any text (special tokens only).
--   Text longer than the model's max_seq_length (256 tokens by default) is truncated.
--   model := another model with the same dimension; use embed_list for any other width.
--   Example: SELECT array_cosine_similarity(embed(a), embed(b)) FROM pairs;
CREATE OR REPLACE MACRO sqlml.main.embed(text, model := NULL) AS _sqlml_embed(text, model);

-- embed_list(text [, model := NULL]) -> FLOAT[]
--   Same vector as a variable-length list: works with any model width (cast with ::FLOAT[768] if needed).
CREATE OR REPLACE MACRO sqlml.main.embed_list(text, model := NULL) AS _sqlml_embed_list(text, model);
