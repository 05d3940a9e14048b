"""rayab.api: the one door into results, shared by the CLI, the gRPC results service, the report and the console.

:class:`~rayab.api.engine.ResultsEngine` answers results, time series, health, power and SQL requests over a
warehouse, reloading the config when its tables change and caching answers by request and table version.
"""
