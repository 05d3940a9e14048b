"""rayab.service: the gRPC edge, and the only package importing ``grpc``.

- :mod:`rayab.service.server`: :class:`~rayab.service.server.ServerSettings` and
  :func:`~rayab.service.server.start_server` (assignment and admin services, health checking, reflection, TLS).
- :mod:`rayab.service.assignment_service`: ``Assign`` / ``BatchAssign`` answered from the local snapshot.
- :mod:`rayab.service.experiment_service`: the admin API over an ``ExperimentAdmin``.
- :mod:`rayab.service.snapshot`: the atomically swapped config a serving process answers from.
- :mod:`rayab.service.status`: rayab errors to gRPC status codes, in one place.
- :mod:`rayab.service.auth`, :mod:`rayab.service.convert`, :mod:`rayab.service.client`: bearer token,
  protobuf conversions, client channels.
- ``_generated``: code generated from ``protos/rayab/v1`` by ``scripts/gen_protos.sh`` (never edited by hand).

Serving processes, the config actor and the assignment logger live in :mod:`rayab.pipeline` (they need Ray).
"""
