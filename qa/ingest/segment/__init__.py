"""Segmentation: an OCR'd page -> titled, dated articles."""

from qa.ingest.segment.page import load_articles, segment_page

__all__ = ["load_articles", "segment_page"]
