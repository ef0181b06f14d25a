"""Ingest: corpus files -> clean, titled, dated articles -> chunks with exact offsets."""
