-- classify(text, labels := NULL, model := NULL, embedding_model := NULL, template := NULL, temperature := NULL, on_error := 'raise')
--   -> VARCHAR
--   The most probable label of text. Give exactly one of:
--     labels := ['business', 'sport', ...]  zero-shot: each label (a name or a longer description) is put into
--                                          template (default 'This text is about {label}.') and compared with
--                                          the text in embedding space; the closest label wins.
--     model := 'topics' | 'topics@2'       a classifier head trained with sqlml_train (latest version, or @version).
--     model := '/path/to/dir'              a local Hugging Face AutoModelForSequenceClassification folder
--                                          (labels from its config.json id2label).
--   embedding_model := the embedding model for zero-shot and trained heads (default: the connection's model);
--   a head trained on another embedding model is refused. temperature: see classify_scores.
--   Zero-shot and trained heads embed a text longer than the model window (256 tokens) as the mean of its
--   sentence chunks; a Hugging Face classifier truncates at its own maximum length.
--   NULL text -> NULL. A NULL labels row (when other rows have labels) -> NULL. '' is classified like any text.
--   Errors: an empty label list, a NULL label, duplicate labels, both labels and model, neither, an unknown model
--   (under both on_error policies). on_error := 'null': a text that makes classification fail gives NULL
--   (counted in sqlml_stats()) instead of an error.
--   Example: SELECT id, classify(body, ['business', 'sport', 'politics', 'tech', 'entertainment']) AS topic FROM news;
--            SELECT id, classify(body, model := 'topics') AS topic FROM new_news;
CREATE OR REPLACE MACRO sqlml.main.classify(text, labels := NULL, model := NULL, embedding_model := NULL, template := NULL, temperature := NULL, on_error := 'raise') AS
    _sqlml_classify(text, labels, model, embedding_model, template, temperature, on_error);

-- classify_scores(text, labels := NULL, model := NULL, embedding_model := NULL, template := NULL, temperature := NULL, on_error := 'raise')
--   -> STRUCT(label VARCHAR, score DOUBLE)[]
--   Every label with its probability, highest first; scores sum to 1, and [1].label is classify()'s answer.
--   Arguments as classify. Zero-shot scores are softmax(cosine(text, label) / temperature), temperature 0.05
--   by default (docs/classify.md measures it); trained heads give logistic-regression probabilities; Hugging
--   Face classifiers give the softmax of their logits.
--   NULL text -> NULL.
--   Margin (confidence gap between the best two labels) and abstaining below a threshold:
--     SELECT id, s[1].label AS label, s[1].score - s[2].score AS margin,
--            CASE WHEN s[1].score >= 0.6 THEN s[1].label END AS label_or_null   -- NULL = abstain
--     FROM (SELECT id, classify_scores(body, ['positive', 'negative']) AS s FROM reviews);
--   One label's probability: list_filter(s, lambda x: x.label = 'sport')[1].score
--   Example: SELECT classify_scores(body, ['positive', 'negative']) FROM reviews;
CREATE OR REPLACE MACRO sqlml.main.classify_scores(text, labels := NULL, model := NULL, embedding_model := NULL, template := NULL, temperature := NULL, on_error := 'raise') AS
    _sqlml_classify_scores(text, labels, model, embedding_model, template, temperature, on_error);

-- sqlml_train(name, texts, labels, method := 'lr', steps := NULL, c := 10.0, test_size := 0.2, seed := 0, embedding_model := NULL, features := NULL)
--   -> STRUCT(name, version, model, labels, rows, skipped, held_out, accuracy, macro_f1, note)
--   Train a classifier head and store it as the next version of name in $SQLML_HOME/heads (safetensors +
--   JSON, no pickle). texts and labels are LISTs collected with the list() aggregate, so the whole training
--   set reaches one call: a function cannot run a query on its own connection, so "train on this SELECT"
--   takes this aggregate form. list(text) and list(label) of one group hold the rows in the same order; one
--   call per group.
--   method := 'lr' (default): logistic regression (c) on the texts' embeddings beside TF-IDF word 1-2-grams of
--   the training texts (features := 'embedding+words', its default; the vocabulary is stored with the head), seconds.
--   features := 'embedding': the embeddings alone (docs/classify.md measures both across six corpora).
--   method := 'finetune': the embedding model itself is fine-tuned on the rows (steps optimiser steps,
--   default by row count), then the logistic regression is fitted on its embeddings (features := 'embedding',
--   its default, or 'embedding+words'); the head keeps its own fine-tuned encoder (its base model's fingerprint
--   recorded), and classify(x, model := name) uses it.
--   Minutes on a CPU (docs/classify.md measures both methods and their cost).
--   Rows where text or label is NULL are skipped (counted in skipped). A stratified test_size share is held
--   out to report accuracy and macro_f1 of the method trained on the other rows and to calibrate the scores
--   (classify_scores' confidence: the temperature that fits the held-out rows divides the head's logits),
--   then the stored head is trained on all rows. The split needs about 5 rows per label at the default
--   share; without one there are no metrics, and an 'lr' head is calibrated by cross-validation instead.
--   test_size := 0 (half the time with 'finetune') skips metrics and calibration. Deterministic for a given
--   seed on CPU. Use it as classify(x, model := name) (latest) or model := 'name@version'. Training a name
--   again stores a new version, unless rows, settings and embedding model equal the latest version's (then
--   that version is returned). embedding_model: default the connection's model.
--   NULL name or lists -> NULL (nothing trained). Errors: fewer than 2 distinct labels, an invalid name, an
--   unknown method, steps without method := 'finetune', an unknown features.
--   Example: SELECT sqlml_train('topics', list(body), list(category)) FROM train_news;
--            SELECT r.* FROM (SELECT sqlml_train('topics', list(body), list(category)) AS r FROM train_news);  -- as columns
--            SELECT sqlml_train('topics_' || lang, list(body), list(category)) FROM news GROUP BY lang;  -- one per group
--            SELECT sqlml_train('intents', list(text), list(intent), method := 'finetune') FROM tickets;
--   Prefer r.* over unnest(sqlml_train(...)): DuckDB evaluates an unnested call once per struct field (slower;
--   still one version stored).
CREATE OR REPLACE MACRO sqlml.main.sqlml_train(name, texts, labels, method := 'lr', steps := NULL, c := 10.0, test_size := 0.2, seed := 0, embedding_model := NULL, features := NULL) AS
    _sqlml_train(name, texts::VARCHAR[], labels::VARCHAR[], method, steps, c, test_size, seed, embedding_model, features);

-- sqlml_classify(table_name, column_name, labels [, refine := true, template := NULL, temperature := NULL, embedding_model := NULL, on_error := 'raise'])
--   -> TABLE(every column of table_name, predicted_label VARCHAR, predicted_score DOUBLE), in table order
--   Zero-shot labels for every row of a table, view or file-backed relation named by a string, by the text
--   in column_name. refine := true (default): each label's vector is moved toward the rows it wins most
--   clearly, over all rows of the table, and the rows are classified again. The labels then fit the
--   table's texts (docs/classify.md: +7 to +23 accuracy points over bare label names on four of six
--   corpora, at most +2 on the other two, over 500-row tables), and a row's label depends on the other
--   rows: deterministically (the same rows give the same labels), never on how DuckDB splits the work.
--   Tables of fewer than ~100 rows gain less. refine := false: classify()'s answer for each row, with
--   template '{label}' unless given. template: default '{label}' (the label names as given; refinement was
--   measured from them). predicted_score: the predicted label's probability, softmax(cosine / temperature),
--   temperature 0.07 by default with refine (refined labels lie closer to their rows), 0.05 without.
--   NULL text -> NULL predicted_label and predicted_score. Errors: as classify's labels; a table with its own
--   predicted_label or predicted_score column (rename it in a view). on_error := 'null': a row whose text makes
--   the model fail gets NULL and is left out of the refinement (counted in sqlml_stats()).
--   labels: a constant list or a scalar subquery (SELECT list(name) FROM topics); for labels that differ per
--   row, use classify(text, labels_column).
--   Cost: the whole table is read and embedded in one call; memory holds its texts, one float32 vector per
--   row and a few floats per row and label.
--   Example: SELECT id, predicted_label FROM sqlml_classify('news', 'body', ['business', 'sport', 'politics', 'tech']);
CREATE OR REPLACE MACRO sqlml.main.sqlml_classify(table_name, column_name, labels, refine := true, template := NULL, temperature := NULL, embedding_model := NULL, on_error := 'raise') AS TABLE
    -- the table's columns travel inside one struct, so no name of the macro's can meet one of the table's
    WITH source AS MATERIALIZED (
        SELECT struct_pack(*COLUMNS(*)) AS fields, row_number() OVER () - 1 AS position FROM query_table(table_name)
    ),
    predicted AS (
        SELECT unnest(_sqlml_classify_rows(
            list(struct_extract(fields, column_name) ORDER BY position), column_name,
            -- the column names, from a row of NULLs when the table is empty
            (SELECT struct_keys(struct_pack(*COLUMNS(named.*))) FROM (SELECT 1) LEFT JOIN (SELECT unnest(fields) FROM source LIMIT 1) named ON true),
            labels, template, temperature, refine, embedding_model, on_error), recursive := true)
        FROM source
    )
    SELECT unnest(source.fields), predicted.label AS predicted_label, predicted.score AS predicted_score
    FROM predicted JOIN source ON source.position = predicted.row
    ORDER BY source.position;
