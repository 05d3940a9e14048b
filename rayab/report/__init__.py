"""The HTML report: one self-contained file with charts (inline SVG), the health panel and the generated SQL."""

from __future__ import annotations
