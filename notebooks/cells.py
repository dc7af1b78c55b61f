"""The source of the notebooks: ``(kind, source)`` cells, kind ``'md'`` or ``'code'``.

``python notebooks/build.py`` turns them into executed ``.ipynb`` files. Only bundled data is used
(the 36 sample articles), with the embedded default model on CPU.
"""

from __future__ import annotations

QUICKSTART = [
    ("md", """# sqlml quickstart

sqlml puts model inference inside DuckDB SQL: `embed`, `sqlml.summarize`, `classify`, `relevance` and
`sqlml_search` run over your tables and Parquet files. This notebook uses only what ships with sqlml:
36 short news-style articles (6 per category) and the embedded all-MiniLM-L6-v2 model, on CPU, offline.

Install: `pip install sqlml` (on CPU machines `pip install torch==2.13.0` first), plus
`pip install 'sqlml[notebooks]'` for Jupyter and matplotlib."""),
    ("code", """import polars as pl
import sqlml
from sqlml.resources import sample_articles_path

pl.Config.set_fmt_str_lengths(400)   # show whole summaries, not '…'
pl.Config.set_tbl_width_chars(400)

con = sqlml.connect(device="cpu")     # a DuckDB connection with every sqlml function registered
con.sql(f"CREATE VIEW articles AS SELECT * FROM '{sample_articles_path()}'")
con.sql("SELECT category, count(*) AS articles FROM articles GROUP BY category ORDER BY category").pl()"""),
    ("md", """`sqlml.list_models()` shows what is available: the embedded default model, every model loaded so far
(with its device) and trained classifier heads. It renders as a table in Jupyter."""),
    ("code", "sqlml.list_models()"),
    ("md", """## Embed

`embed(text)` returns a `FLOAT[384]` array, L2-normalised, so `array_cosine_similarity` (or a dot
product) compares two texts."""),
    ("code", """con.sql(\"\"\"
    SELECT id, title,
           round(array_cosine_similarity(embed(body), embed('central bank raises interest rates')), 3) AS similarity
    FROM articles ORDER BY similarity DESC LIMIT 5
\"\"\").pl()"""),
    ("md", """## Summarize, and see why

`sqlml.summarize(text, n := 2)` keeps the `n` most representative sentences, verbatim, in order. (`SUMMARIZE`
is a DuckDB keyword, hence the `sqlml.` prefix.)"""),
    ("code", """con.sql(\"\"\"
    SELECT id, category, sqlml.summarize(body, n := 2) AS summary
    FROM articles WHERE id IN (4, 9, 31) ORDER BY id
\"\"\").pl()"""),
    ("md", """`summarize_explain` returns one row per sentence: its k-means cluster (k = 3·n), the cluster's size, the
sentence's score (similarity to its cluster's centre plus similarity to the whole text plus a prior for early
sentences) and whether it was selected. Each cluster's best-scoring sentence represents it, and the `n` best
representatives make the summary.
`sqlml.explain_table` renders it as a table, selected sentences highlighted."""),
    ("code", """explanation = con.sql("SELECT summarize_explain(body, n := 2) FROM articles WHERE id = 4").fetchall()[0][0]
table = sqlml.explain_table(explanation)
table"""),
    ("code", """print(table.summary)"""),
    ("md", """## Classify: zero-shot

`classify(text, [labels])` picks the label whose embedding is closest to the text's; `classify_scores` gives
every label's probability, best first, so the margin between the top two says how sure it is."""),
    ("code", """zero_shot = con.sql(\"\"\"
    SELECT id, category, s[1].label AS predicted, round(s[1].score - s[2].score, 3) AS margin
    FROM (SELECT id, category,
                 classify_scores(body, ['business', 'sport', 'politics', 'tech', 'entertainment', 'science']) AS s
          FROM articles)
    ORDER BY id
\"\"\").pl()
print(f"zero-shot accuracy on 36 articles: {(zero_shot['predicted'] == zero_shot['category']).mean():.2f}")
zero_shot.sort("margin").head(5)"""),
    ("md", """## Classify: train a tiny head

`sqlml_train(name, list(text), list(label))` fits a logistic regression on the embeddings and stores it
(safetensors, no pickle) as `name@1`. With 36 articles any single held-out split is tiny, so we measure
it honestly with **3-fold cross-validation**: each article is predicted by a head that never saw it
(three heads, each trained on the other 24 articles, in one `GROUP BY` query)."""),
    ("code", """con.sql(\"\"\"
    CREATE TABLE folds AS
    SELECT id, body, category,
           (row_number() OVER (PARTITION BY category ORDER BY id) - 1) % 3 AS fold   -- 2 per category per fold
    FROM articles
\"\"\")
trained = con.sql(\"\"\"
    SELECT t.fold, t.head.model AS head, t.head.rows AS trained_on
    FROM (SELECT f.fold, sqlml_train('topics_cv' || f.fold, list(a.body), list(a.category), test_size := 0) AS head
          FROM folds a, (SELECT DISTINCT fold FROM folds) f
          WHERE a.fold <> f.fold
          GROUP BY f.fold) t
    ORDER BY t.fold
\"\"\").pl()
trained"""),
    ("code", """predictions = con.sql(" UNION ALL ".join(
    f"SELECT id, category, classify(body, model := 'topics_cv{fold}') AS predicted FROM folds WHERE fold = {fold}"
    for fold in range(3)
)).pl().sort("id")
print(f"3-fold cross-validated accuracy: {(predictions['predicted'] == predictions['category']).mean():.2f} (36 articles)")"""),
    ("md", """With 12 articles per test fold, one article moves accuracy by 8 points: read this as a demonstration of
the workflow, not a benchmark. `docs/classify.md` measures the heads on Banking77 (10,003 training texts)."""),
    ("code", """import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay

labels = sorted(predictions["category"].unique())
fig, ax = plt.subplots(figsize=(6.5, 5.5))
ConfusionMatrixDisplay.from_predictions(
    predictions["category"], predictions["predicted"], labels=labels, ax=ax, cmap="Blues", colorbar=False
)
ax.set_title("Trained head, 3-fold cross-validation (36 articles)")
ax.set_xlabel("predicted category")
ax.set_ylabel("true category")
plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
fig.tight_layout()
plt.show()"""),
    ("md", """## A map of the articles

Each article's embedding, projected to 2-D with PCA (scikit-learn). Articles of one category mostly land
near each other; business and tech overlap, which is also where the classifiers above make their
mistakes. The embedding space is what `classify` and `relevance` work in."""),
    ("code", """import numpy as np
from sklearn.decomposition import PCA

frame = con.sql("SELECT id, category, embed(body) AS e FROM articles ORDER BY id").pl()
points = PCA(n_components=2, random_state=0).fit_transform(np.stack(frame["e"].to_numpy()))

fig, ax = plt.subplots(figsize=(7, 5.5))
for category in labels:
    mask = (frame["category"] == category).to_numpy()
    ax.scatter(points[mask, 0], points[mask, 1], label=category, s=45, alpha=0.85)
ax.set_title("36 articles: PCA of all-MiniLM-L6-v2 embeddings")
ax.set_xlabel("principal component 1")
ax.set_ylabel("principal component 2")
ax.legend(title="category", loc="best", fontsize=9)
fig.tight_layout()
plt.show()"""),
    ("md", """## Relevance and top-k search

`relevance(text, query)` is a cosine score per row; `sqlml_search(table, column, query, k := ...)` returns the
exact top-k rows, by default hybrid (BM25 + semantic). `top_k_sentences` pulls the evidence out of each hit."""),
    ("code", """con.sql(\"\"\"
    SELECT rank, id, category, title, round(score, 3) AS score,
           top_k_sentences(body, 'new medicine discovered', k := 1)[1] AS evidence
    FROM sqlml_search('articles', 'body', 'new medicine discovered', k := 3)
    ORDER BY rank
\"\"\").pl()"""),
    ("code", """con.sql(\"\"\"
    SELECT category, max_by(title, relevance(body, 'record-breaking performance')) AS most_relevant
    FROM articles GROUP BY category ORDER BY category
\"\"\").pl()"""),
    ("md", """## Next

- The same SQL runs from the command line: `sqlml query "SELECT ... FROM 'your.parquet'"`, and
  `sqlml summarize|classify|embed|search` add columns to Parquet files.
- `analytics_tour.ipynb`: group-level summaries, evidence and plots in SQL with polars.
- The SQL reference: `docs/sql-reference.md`."""),
    ("code", "con.close()"),
]

ANALYTICS_TOUR = [
    ("md", """# An analytics tour: SQL, polars and plots

A small analytics workflow on the 36 bundled articles, as you would run it on your own Parquet: what is
each category about (group-level summaries), which sentences prove it (evidence per group), and how well a
zero-shot classifier agrees with the editors' categories (classification joined back to metadata).
SQL does the model work inside DuckDB; polars and matplotlib take the results from there."""),
    ("code", """import matplotlib.pyplot as plt
import polars as pl
import sqlml
from sqlml.resources import sample_articles_path

pl.Config.set_fmt_str_lengths(600)   # show whole summaries, not '…'
pl.Config.set_tbl_width_chars(600)
pl.Config.set_tbl_rows(40)

con = sqlml.connect(device="cpu")
con.sql(f"CREATE VIEW articles AS SELECT * FROM '{sample_articles_path()}'")
con.sql("DESCRIBE articles").pl()"""),
    ("md", """## Group-level summaries

`string_agg` joins each category's articles into one text and `sqlml.summarize` picks the sentences that
best represent the whole group: k-means runs over every sentence of the category."""),
    ("code", """con.sql(\"\"\"
    SELECT category, count(*) AS articles,
           sqlml.summarize(string_agg(body, ' ' ORDER BY id), n := 2) AS what_it_is_about
    FROM articles GROUP BY category ORDER BY category
\"\"\").pl()"""),
    ("md", """## Evidence per group

One question for every group: where does each category talk about records? `top_k_sentences` ranks every
sentence of the group's joined text by relevance to the question; `mode := 'hybrid'` mixes BM25 (the
word "record") with embedding similarity. The question is one constant per query: run one query per
question to ask several."""),
    ("code", """evidence = con.sql(\"\"\"
    SELECT category,
           top_k_sentences(string_agg(body, ' ' ORDER BY id), 'a new record was set', k := 2, mode := 'hybrid') AS evidence
    FROM articles GROUP BY category ORDER BY category
\"\"\").pl()
evidence.explode("evidence")"""),
    ("md", """## Classification joined back to metadata

Zero-shot labels from `classify_scores`, joined with the articles' metadata; polars computes per-category
agreement and the confidence margin (best minus second-best probability)."""),
    ("code", """scored = con.sql(\"\"\"
    WITH s AS (
        SELECT id, classify_scores(body, ['business', 'sport', 'politics', 'tech', 'entertainment', 'science']) AS s
        FROM articles
    )
    SELECT a.id, a.category, a.title, s.s[1].label AS predicted, s.s[1].score AS confidence,
           s.s[1].score - s.s[2].score AS margin
    FROM articles a JOIN s USING (id) ORDER BY a.id
\"\"\").pl()
per_category = (
    scored.group_by("category")
    .agg(accuracy=(pl.col("predicted") == pl.col("category")).mean(), mean_margin=pl.col("margin").mean())
    .sort("category")
)
per_category"""),
    ("code", """fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
left.bar(per_category["category"], per_category["accuracy"], color="tab:blue")
left.set_ylim(0, 1.05)
left.set_title("Zero-shot agreement with the editors' category")
left.set_xlabel("category")
left.set_ylabel("accuracy (6 articles each)")
left.tick_params(axis="x", rotation=30)

correct = scored.filter(pl.col("predicted") == pl.col("category"))["margin"]
wrong = scored.filter(pl.col("predicted") != pl.col("category"))["margin"]
bins = [i / 20 for i in range(21)]
right.hist([correct.to_list(), wrong.to_list()], bins=bins, label=["correct", "wrong"], color=["tab:green", "tab:red"], stacked=True)
right.set_title("Confidence margin of zero-shot labels")
right.set_xlabel("margin: best minus second-best probability")
right.set_ylabel("articles")
right.legend()
fig.tight_layout()
plt.show()"""),
    ("md", """The disagreements, least confident first: a small margin is where a person should look first. DuckDB
reads the polars DataFrame `scored` by its variable name, so SQL and polars mix freely."""),
    ("code", """con.sql(\"\"\"
    SELECT id, category, predicted, round(margin, 3) AS margin, margin < 0.2 AS review_first, title
    FROM scored WHERE predicted <> category ORDER BY margin
\"\"\").pl()"""),
    ("md", """## Relevance across groups

How strongly each category responds to a few queries: the mean `relevance` (cosine) of its articles, as
a heatmap. A query that matches one row and no others is specific; a flat row is vague."""),
    ("code", """queries = ["interest rates", "championship final", "government policy", "smartphone", "film and music", "research study"]
heat = con.sql(\"\"\"
    SELECT q.query, a.category, avg(relevance(a.body, q.query)) AS mean_relevance
    FROM articles a, (SELECT unnest($queries) AS query) q
    GROUP BY ALL
\"\"\", params={"queries": queries}).pl().pivot(on="category", index="query", values="mean_relevance")
categories = sorted(c for c in heat.columns if c != "query")
heat = heat.select("query", *categories)
grid = heat.select(categories).to_numpy()

fig, ax = plt.subplots(figsize=(8, 4.5))
image = ax.imshow(grid, cmap="viridis", aspect="auto")
ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
ax.set_yticks(range(len(heat)), heat["query"].to_list())
for i in range(grid.shape[0]):
    for j in range(grid.shape[1]):
        ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="white" if grid[i, j] < grid.max() * 0.7 else "black", fontsize=8)
ax.set_title("Mean relevance (cosine) of each category's articles to a query")
ax.set_xlabel("category")
ax.set_ylabel("query")
fig.colorbar(image, ax=ax, label="mean cosine similarity")
fig.tight_layout()
plt.show()"""),
    ("code", "con.close()"),
]

NOTEBOOKS = {"quickstart": QUICKSTART, "analytics_tour": ANALYTICS_TOUR}
