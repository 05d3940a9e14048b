"""rayab.lifecycle: experiment lifecycle rules and the versioned config store (no Ray, no gRPC).

:class:`~rayab.lifecycle.config_store.ConfigStore` validates and commits admin changes (create, edit, ramp, stop,
ship, archive) as new config versions; the gRPC admin service and the serving actors both go through it.
"""
