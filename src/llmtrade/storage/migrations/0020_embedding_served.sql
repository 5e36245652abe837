-- The model a server says made each cached vector: the `model` of its /embeddings reply (OpenAI's versioned id, TEI's
-- loaded model_id whatever the request names, vLLM's served name, Ollama's tag). The configured name alone let another
-- model of the same size answer under it unseen, its vectors searched against the first model's (llm/embeddings.py
-- refuses that now). NULL: cached before this column, or a server whose reply names no model.
ALTER TABLE embedding_cache ADD COLUMN served text;
CREATE INDEX embedding_cache_served ON embedding_cache (model, served) WHERE served IS NOT NULL;
