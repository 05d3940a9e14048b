"""Guardrails and planning on the warehouse: sample-ratio mismatch, experiment health, power planning.

The statistics are in :mod:`rayab.stats`; this package reads what they need (assignments, manifests, quarantine,
aggregated replicate arrays) and turns their answers into checks with a status and a reason.
"""

from __future__ import annotations
