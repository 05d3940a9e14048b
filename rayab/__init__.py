"""rayab: an A/B-testing platform on Ray.

Deterministic assignment, hourly Poisson-bootstrap aggregation whose partial sums add up exactly over any window,
and results with confidence intervals at query time.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
