"""The web console: the catalogue of experiments, decision-first experiment pages, explore and operate.

Served by ``rayab console --warehouse DIR --port N`` (:mod:`rayab.cli.console`); the application is
:func:`rayab.console.app.create_app` (imported lazily: the web stack is the ``console`` extra).
"""
