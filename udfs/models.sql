-- sqlml_models() -> TABLE(name, id, kind, dimension, device, dtype, loaded)
--   Known and loaded models: the embedded default, registered names, and every model loaded so far
--   (with the device and dtype it runs on). Example: SELECT * FROM sqlml_models();
CREATE OR REPLACE MACRO sqlml.main.sqlml_models() AS TABLE
    SELECT m.name, m.id, m.kind, m.dimension, m.device, m.dtype, m.loaded
    FROM (SELECT unnest(_sqlml_models()) AS m);
