-- sqlml_stats() -> TABLE(component VARCHAR, name VARCHAR, metric VARCHAR, reason VARCHAR, value BIGINT)
--   Counters of this process since it started (they only grow; compare two readings for one query's share):
--     component 'function', name embed / summarize / classify / ...: calls, rows (rows processed) and
--       failed_rows per reason (the exception type; rows turned NULL by on_error := 'null').
--     component 'runtime', name model@device: requests, rows, batches, tokens, padded_tokens, oom_splits
--       (batches halved after running out of memory), failed_rounds, rounds, queue_wait_us
--       (microseconds requests waited for their round, summed), round_us (microseconds the worker ran rounds).
--     component 'cache', name the cache file: hits, misses, writes, evicted, resets, errors.
--   Example: SELECT name, reason, value FROM sqlml_stats() WHERE metric = 'failed_rows';
--            SELECT name, value FROM sqlml_stats() WHERE component = 'runtime' AND metric IN ('batches', 'oom_splits');
CREATE OR REPLACE MACRO sqlml.main.sqlml_stats() AS TABLE
    SELECT s.component, s.name, s.metric, s.reason, s.value
    FROM (SELECT unnest(_sqlml_stats()) AS s);
