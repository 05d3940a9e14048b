"""rayab.rpc: the gRPC edge, and the only package importing ``grpc``.

- :mod:`rayab.rpc.server`: :class:`~rayab.rpc.server.ServerSettings` and
  :func:`~rayab.rpc.server.start_server` (assignment and admin services, health checking, reflection, TLS).
- :mod:`rayab.rpc.assignment_service`: ``Assign`` / ``BatchAssign`` answered from the local snapshot.
- :mod:`rayab.rpc.experiment_service`: the admin API over an ``ExperimentAdmin``.
- :mod:`rayab.rpc.snapshot`: the atomically swapped config a serving process answers from.
- :mod:`rayab.rpc.status`: rayab errors to gRPC status codes, in one place.
- :mod:`rayab.rpc.auth`, :mod:`rayab.rpc.convert`, :mod:`rayab.rpc.client`: bearer token,
  protobuf conversions, client channels.
- ``_generated``: code generated from ``protos/rayab/v1`` by ``scripts/gen_protos.sh`` (never edited by hand).

Serving processes, the config actor and the assignment logger live in :mod:`rayab.serving` (they need Ray).
"""
