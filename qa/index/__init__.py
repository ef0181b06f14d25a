"""Index: the embedding model, the dense (FAISS) and lexical (BM25) indexes, and the store on disk."""
