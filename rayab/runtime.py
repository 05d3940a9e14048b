"""Connecting to Ray: start a local instance with an explicit CPU count, or join an existing cluster.

Ray 2.60 turns token authentication on by default: a local instance started here generates its token itself; to
join a cluster started with ``ray start --head``, the token must be available (``RAY_AUTH_TOKEN``, or the token
file that ``ray start`` wrote), or both sides run with ``RAY_AUTH_MODE=disabled``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import ray

__all__ = ["ray_session"]


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Use Ray inside the block: reuse an initialised one, join ``address``, or start a local instance.

    Only what this function started is shut down on exit.
    """
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        # "local": a new instance of our own, never a cluster some other process started on this machine
        ray.init(address="local", num_cpus=num_cpus or min(os.cpu_count() or 2, 8), include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
