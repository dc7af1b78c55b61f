-- News triage: route every article to a desk, flag uncertain routing for a person, rank by urgency and
-- write a two-sentence brief. Reads a view named `articles` with columns id, title, body
-- (news_triage.py creates it over your Parquet files); one SELECT, so any runner can wrap it in COPY.
WITH scored AS (
    SELECT id, title, body,
           classify_scores(body, ['business', 'sport', 'politics', 'tech', 'entertainment', 'science']) AS desks,
           relevance(body, 'outage, recall, resignation, crisis or emergency') AS urgency
    FROM articles
)
SELECT id,
       title,
       desks[1].label                                        AS desk,
       round(desks[1].score - desks[2].score, 3)             AS desk_margin,    -- best minus second-best probability
       desks[1].score - desks[2].score < 0.2                 AS needs_review,   -- a person checks uncertain routing
       round(urgency, 3)                                     AS urgency,
       sqlml.summarize(body, n := 2)                         AS brief
FROM scored
ORDER BY urgency DESC, id
