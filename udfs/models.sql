-- sqlml_models() -> TABLE(name, id, kind, dimension, device, dtype, loaded, accuracy, macro_f1)
--   Known and loaded models: the embedded default, registered names, and every model loaded so far
--   (with the device and dtype it runs on); every trained classifier version ('topics@2', kind
--   'classifier-head', dimension = number of labels, with its held-out accuracy and macro_f1) and loaded
--   Hugging Face sequence classifiers (kind 'hf-classifier'). Example: SELECT * FROM sqlml_models();
CREATE OR REPLACE MACRO sqlml.main.sqlml_models() AS TABLE
    SELECT m.name, m.id, m.kind, m.dimension, m.device, m.dtype, m.loaded, m.accuracy, m.macro_f1
    FROM (SELECT unnest(_sqlml_models()) AS m);
