"""Server reflection in both versions: ``grpc.reflection.v1`` (what current tools ask first) and ``v1alpha``.

grpcio-reflection implements only ``v1alpha``. The two versions are the same protocol with the same messages under
another package, so their bytes are interchangeable: the ``v1`` service here is the ``v1alpha`` servicer mounted
under the ``v1`` method name, and the ``v1`` descriptor (built from the ``v1alpha`` one, package renamed) is added
to the default pool so reflection can describe itself in either version.

>>> v1_messages()[0].DESCRIPTOR.full_name
'grpc.reflection.v1.ServerReflectionRequest'
>>> V1_SERVICE, V1ALPHA_SERVICE
('grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as alpha_pb2

__all__ = ["V1ALPHA_SERVICE", "V1_SERVICE", "enable_reflection", "v1_messages"]

V1ALPHA_SERVICE: str = reflection.SERVICE_NAME
V1_SERVICE = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_ALPHA, _V1 = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."


def _rename(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        if field.HasField("type_name"):
            field.type_name = field.type_name.replace(_ALPHA, _V1)
    for nested in message.nested_type:
        _rename(nested)


def _v1_file() -> FileDescriptor:
    """The ``v1`` reflection file in the default pool (added on first use)."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(_V1_FILE)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        _rename(message)
    for method in (m for service in proto.service for m in service.method):
        method.input_type = method.input_type.replace(_ALPHA, _V1)
        method.output_type = method.output_type.replace(_ALPHA, _V1)
    pool.AddSerializedFile(proto.SerializeToString())
    return pool.FindFileByName(_V1_FILE)


def v1_messages() -> tuple[Any, Any]:
    """The ``v1`` request and response classes, for a client of ``grpc.reflection.v1``."""
    file = _v1_file()
    return (message_factory.GetMessageClass(file.message_types_by_name["ServerReflectionRequest"]),
            message_factory.GetMessageClass(file.message_types_by_name["ServerReflectionResponse"]))


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection ``v1`` and ``v1alpha`` on ``server``, both listing ``service_names`` and themselves."""
    _v1_file()
    names = [*service_names, V1_SERVICE, V1ALPHA_SERVICE]
    reflection.enable_server_reflection(names, server)
    handler = grpc.stream_stream_rpc_method_handler(
        reflection.aio.ReflectionServicer(names).ServerReflectionInfo,
        request_deserializer=alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=alpha_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE,
                                                                        {"ServerReflectionInfo": handler}),))
