"""Independent closed-form references the tests compare rayab's bootstrap results with.

Welch's t-test (:mod:`~tests.oracles.welch`), the delta method for ratios (:mod:`~tests.oracles.delta`), closed-form
CUPED (:mod:`~tests.oracles.cuped`) and their addable moments (:mod:`~tests.oracles.moments`). They are not part of
the product: rayab's results come from replicate sums; these formulas, checked themselves against published vectors
(``tests/reference/``), say what those results must agree with.
"""
