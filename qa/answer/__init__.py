"""Answer: question analysis, retrieval and re-scoring, the composed answer with quotes, and chat."""
