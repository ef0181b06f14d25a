"""Segmentation: an OCR'd page -> titled, dated articles (units.py -> layout.py -> titles.py -> page.py)."""

from qa.ingest.segment.page import load_articles, segment_page
from qa.ingest.segment.settings import SegmentSettings

__all__ = ["SegmentSettings", "load_articles", "segment_page"]
