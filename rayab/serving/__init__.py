"""rayab.serving: the serving control plane on Ray.

Long-lived server actors that host the gRPC services (:mod:`~rayab.serving.servers`), the config actor that owns
the current config version (:mod:`~rayab.serving.config_actor`), and the assignment logger that records first
assignments into the warehouse (:mod:`~rayab.serving.assignment_logger`, :mod:`~rayab.serving.assignment_recorder`).
"""
