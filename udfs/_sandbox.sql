-- _sqlml_sandbox() -> STRUCT(external_access BOOLEAN, allowed_directories VARCHAR[], allowed_paths VARCHAR[])
--   Private: DuckDB's file-system sandbox of the database, read by DuckDB in each query. Every function that
--   resolves a path passes it to its UDF, which refuses paths the sandbox does not permit (sqlml/paths.py);
--   a UDF cannot run SQL on its own connection to read it. This file sorts first: the macros below need it.
CREATE OR REPLACE MACRO sqlml.main._sqlml_sandbox() AS {
    'external_access': current_setting('enable_external_access'),
    'allowed_directories': current_setting('allowed_directories'),
    'allowed_paths': current_setting('allowed_paths')
};
