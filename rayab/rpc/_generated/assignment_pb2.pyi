from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_ASSIGNED: _ClassVar[Reason]
    REASON_SHIPPED: _ClassVar[Reason]
    REASON_MISSING_ID: _ClassVar[Reason]
    REASON_NOT_TARGETED: _ClassVar[Reason]
    REASON_OUTSIDE_LAYER_SLICE: _ClassVar[Reason]
    REASON_OUTSIDE_ROLLOUT: _ClassVar[Reason]
REASON_UNSPECIFIED: Reason
REASON_ASSIGNED: Reason
REASON_SHIPPED: Reason
REASON_MISSING_ID: Reason
REASON_NOT_TARGETED: Reason
REASON_OUTSIDE_LAYER_SLICE: Reason
REASON_OUTSIDE_ROLLOUT: Reason

class AttributeValue(_message.Message):
    __slots__ = ("string_value", "int_value", "double_value", "bool_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    double_value: float
    bool_value: bool
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class ParameterValue(_message.Message):
    __slots__ = ("string_value", "int_value", "double_value", "bool_value", "null_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    double_value: float
    bool_value: bool
    null_value: _struct_pb2.NullValue
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., bool_value: _Optional[bool] = ..., null_value: _Optional[_Union[_struct_pb2.NullValue, str]] = ...) -> None: ...

class AssignRequest(_message.Message):
    __slots__ = ("unit_id", "session_id", "attributes", "exp_ids", "log_exposure")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AttributeValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AttributeValue, _Mapping]] = ...) -> None: ...
    UNIT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    EXP_IDS_FIELD_NUMBER: _ClassVar[int]
    LOG_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    unit_id: str
    session_id: str
    attributes: _containers.MessageMap[str, AttributeValue]
    exp_ids: _containers.RepeatedScalarFieldContainer[str]
    log_exposure: bool
    def __init__(self, unit_id: _Optional[str] = ..., session_id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, AttributeValue]] = ..., exp_ids: _Optional[_Iterable[str]] = ..., log_exposure: _Optional[bool] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("exp_id", "variant_id", "parameters", "in_experiment", "reason")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValue, _Mapping]] = ...) -> None: ...
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    IN_EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    variant_id: str
    parameters: _containers.MessageMap[str, ParameterValue]
    in_experiment: bool
    reason: Reason
    def __init__(self, exp_id: _Optional[str] = ..., variant_id: _Optional[str] = ..., parameters: _Optional[_Mapping[str, ParameterValue]] = ..., in_experiment: _Optional[bool] = ..., reason: _Optional[_Union[Reason, str]] = ...) -> None: ...

class AssignResponse(_message.Message):
    __slots__ = ("config_version", "assignments")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, config_version: _Optional[int] = ..., assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class Attributes(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AttributeValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AttributeValue, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, AttributeValue]
    def __init__(self, values: _Optional[_Mapping[str, AttributeValue]] = ...) -> None: ...

class BatchAssignRequest(_message.Message):
    __slots__ = ("unit_ids", "session_ids", "shared_attributes", "attributes", "exp_ids", "log_exposure")
    class SharedAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AttributeValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AttributeValue, _Mapping]] = ...) -> None: ...
    UNIT_IDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    SHARED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    EXP_IDS_FIELD_NUMBER: _ClassVar[int]
    LOG_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    unit_ids: _containers.RepeatedScalarFieldContainer[str]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    shared_attributes: _containers.MessageMap[str, AttributeValue]
    attributes: _containers.RepeatedCompositeFieldContainer[Attributes]
    exp_ids: _containers.RepeatedScalarFieldContainer[str]
    log_exposure: bool
    def __init__(self, unit_ids: _Optional[_Iterable[str]] = ..., session_ids: _Optional[_Iterable[str]] = ..., shared_attributes: _Optional[_Mapping[str, AttributeValue]] = ..., attributes: _Optional[_Iterable[_Union[Attributes, _Mapping]]] = ..., exp_ids: _Optional[_Iterable[str]] = ..., log_exposure: _Optional[bool] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ("variant_id", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValue, _Mapping]] = ...) -> None: ...
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    parameters: _containers.MessageMap[str, ParameterValue]
    def __init__(self, variant_id: _Optional[str] = ..., parameters: _Optional[_Mapping[str, ParameterValue]] = ...) -> None: ...

class ExperimentColumn(_message.Message):
    __slots__ = ("exp_id", "variants", "variant_index", "reasons")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_INDEX_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    variant_index: _containers.RepeatedScalarFieldContainer[int]
    reasons: _containers.RepeatedScalarFieldContainer[Reason]
    def __init__(self, exp_id: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., variant_index: _Optional[_Iterable[int]] = ..., reasons: _Optional[_Iterable[_Union[Reason, str]]] = ...) -> None: ...

class BatchAssignResponse(_message.Message):
    __slots__ = ("config_version", "experiments")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    experiments: _containers.RepeatedCompositeFieldContainer[ExperimentColumn]
    def __init__(self, config_version: _Optional[int] = ..., experiments: _Optional[_Iterable[_Union[ExperimentColumn, _Mapping]]] = ...) -> None: ...

class GetServingStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServingStatusResponse(_message.Message):
    __slots__ = ("server_id", "config_version", "assign_requests", "batch_requests", "assignments_logged", "assignments_dropped", "batches_stopped", "config_watchers", "exposures_accepted")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_LOGGED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_STOPPED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_WATCHERS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    config_version: int
    assign_requests: int
    batch_requests: int
    assignments_logged: int
    assignments_dropped: int
    batches_stopped: int
    config_watchers: int
    exposures_accepted: int
    def __init__(self, server_id: _Optional[str] = ..., config_version: _Optional[int] = ..., assign_requests: _Optional[int] = ..., batch_requests: _Optional[int] = ..., assignments_logged: _Optional[int] = ..., assignments_dropped: _Optional[int] = ..., batches_stopped: _Optional[int] = ..., config_watchers: _Optional[int] = ..., exposures_accepted: _Optional[int] = ...) -> None: ...

class WatchConfigRequest(_message.Message):
    __slots__ = ("known_version",)
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: int
    def __init__(self, known_version: _Optional[int] = ...) -> None: ...

class WatchConfigResponse(_message.Message):
    __slots__ = ("config_version", "snapshot_json")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_JSON_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    snapshot_json: str
    def __init__(self, config_version: _Optional[int] = ..., snapshot_json: _Optional[str] = ...) -> None: ...

class Exposure(_message.Message):
    __slots__ = ("exp_id", "unit_id", "variant_id", "exposed_at_us")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_AT_US_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    unit_id: str
    variant_id: str
    exposed_at_us: int
    def __init__(self, exp_id: _Optional[str] = ..., unit_id: _Optional[str] = ..., variant_id: _Optional[str] = ..., exposed_at_us: _Optional[int] = ...) -> None: ...

class LogExposuresRequest(_message.Message):
    __slots__ = ("exposures",)
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    exposures: _containers.RepeatedCompositeFieldContainer[Exposure]
    def __init__(self, exposures: _Optional[_Iterable[_Union[Exposure, _Mapping]]] = ...) -> None: ...

class LogExposuresResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "dropped", "first_error")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    FIRST_ERROR_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    dropped: int
    first_error: str
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., dropped: _Optional[int] = ..., first_error: _Optional[str] = ...) -> None: ...
