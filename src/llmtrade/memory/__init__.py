"""The committee's memory of past setups and outcomes, in pgvector (see domain/memory.py for what is kept).

memory/protocol.py is the contract the rest of llmtrade uses (`Memory`); the rest of this package is its one
implementation: the condition vector built from a snapshot, the embedder (an OpenAI-compatible `/embeddings`
model, or the offline one), the projection of memory events into tables (rebuildable), and retrieval.
"""
