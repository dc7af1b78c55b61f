"""The main job on the bundled sample articles, used by ``sqlml demo`` and the README."""

from __future__ import annotations

from pathlib import Path

from sqlml.sql.quoting import quote_literal


def demo_queries(articles: Path) -> list[tuple[str, str]]:
    """(title, SQL) pairs the demo runs, in order, over ``articles``."""
    source = quote_literal(articles)
    return [
        (
            "Articles most similar to 'central bank raises interest rates' (embed + array_cosine_similarity)",
            f"""SELECT id, category, title,
                   round(array_cosine_similarity(embed(body), embed('central bank raises interest rates')), 3) AS score
            FROM {source} ORDER BY score DESC LIMIT 5""",
        ),
        (
            "Two-sentence summaries of the science articles (sqlml.summarize: k-means over sentence embeddings)",
            f"""SELECT id, title, sqlml.summarize(body, n := 2) AS gist
            FROM {source} WHERE category = 'science' ORDER BY id LIMIT 3""",
        ),
        (
            "Hybrid search (BM25 + semantic) for 'election campaign', with the best sentence of each hit (sqlml_search, top_k_sentences)",
            f"""SELECT rank, id, category, round(score, 4) AS score, top_k_sentences(body, 'election campaign', k := 1)[1] AS evidence
            FROM sqlml_search({source}, 'body', 'election campaign', k := 3) ORDER BY rank""",
        ),
        (
            "Zero-shot topics with confidence margin (classify_scores; abstain = NULL below 0.5)",
            f"""SELECT id, category, s[1].label AS predicted, round(s[1].score - s[2].score, 3) AS margin,
                   CASE WHEN s[1].score >= 0.5 THEN s[1].label END AS confident
            FROM (SELECT id, category, classify_scores(body, ['business', 'sport', 'politics', 'tech', 'entertainment', 'science']) AS s
                  FROM {source})
            ORDER BY id LIMIT 8""",
        ),
    ]
