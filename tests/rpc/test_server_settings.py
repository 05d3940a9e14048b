"""Server settings: a port taken by another server is an error unless the deployment shares it on purpose."""

from __future__ import annotations

import asyncio

import pytest

from rayab.assignment import ConfigSnapshot
from rayab.errors import ValidationError
from rayab.rpc.server import ServerSettings, start_server
from rayab.rpc.snapshot import SnapshotHolder


def _bind_twice(reuse_port: bool) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        holder = SnapshotHolder(ConfigSnapshot(0, ()))
        first = await start_server(ServerSettings(reuse_port=reuse_port), holder)
        try:
            second = await start_server(ServerSettings(port=first.port, reuse_port=reuse_port), holder)
            await second.stop(0)
            return first.port, second.port
        finally:
            await first.stop(0)

    return asyncio.run(main())


def test_a_taken_port_fails_to_bind_by_default():
    with pytest.raises(ValidationError, match=r"^port == \d+: cannot listen on 127.0.0.1:\d+"):
        _bind_twice(reuse_port=False)


def test_servers_of_one_deployment_can_share_a_port():
    first, second = _bind_twice(reuse_port=True)
    assert first == second


@pytest.mark.parametrize(("fields", "field"), [({"port": 70000}, "port"), ({"port": True}, "port"),
                                               ({"batch_chunk": 0}, "batch_chunk")])
def test_bad_settings_name_the_field(fields, field):
    with pytest.raises(ValidationError, match=f"^{field} == "):
        ServerSettings(**fields)
