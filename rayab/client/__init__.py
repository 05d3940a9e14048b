"""rayab.client: the Python SDK, assigning in-process with the server's own engine.

``Client(target, sdk_key)`` follows a server's config (``WatchConfig``) and logs the exposures the caller asks
for (``LogExposures``); ``Client.from_snapshot(document)`` evaluates from a fixed snapshot document. Importing it
loads neither Ray, pyarrow nor numba (numpy yes: the batch forms hash in vectorised passes), and gRPC only once a
client talks to a server. See :mod:`rayab.client.local` and :mod:`rayab.client.exposures`.
"""

from __future__ import annotations

from rayab.client.exposures import EXPOSURE_MODES, ExposureMode, FileSink
from rayab.client.local import Client, Decision

__all__ = ["EXPOSURE_MODES", "Client", "Decision", "ExposureMode", "FileSink"]
