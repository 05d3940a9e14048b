import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rayab.rpc._generated import assignment_pb2 as _assignment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExperimentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_STATUS_UNSPECIFIED: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_DRAFT: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_RUNNING: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_STOPPED: _ClassVar[ExperimentStatus]
    EXPERIMENT_STATUS_ARCHIVED: _ClassVar[ExperimentStatus]
EXPERIMENT_STATUS_UNSPECIFIED: ExperimentStatus
EXPERIMENT_STATUS_DRAFT: ExperimentStatus
EXPERIMENT_STATUS_RUNNING: ExperimentStatus
EXPERIMENT_STATUS_STOPPED: ExperimentStatus
EXPERIMENT_STATUS_ARCHIVED: ExperimentStatus

class VariantSpec(_message.Message):
    __slots__ = ("variant_id", "traffic_pct", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _assignment_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_assignment_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PCT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    variant_id: str
    traffic_pct: float
    parameters: _containers.MessageMap[str, _assignment_pb2.ParameterValue]
    def __init__(self, variant_id: _Optional[str] = ..., traffic_pct: _Optional[float] = ..., parameters: _Optional[_Mapping[str, _assignment_pb2.ParameterValue]] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("exp_id", "name", "status", "rollout_pct", "layer", "variants", "shipped_variant", "version", "targeting", "spec_json", "owner", "description", "planned_units")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_PCT_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SHIPPED_VARIANT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGETING_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PLANNED_UNITS_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    name: str
    status: ExperimentStatus
    rollout_pct: float
    layer: str
    variants: _containers.RepeatedCompositeFieldContainer[VariantSpec]
    shipped_variant: str
    version: int
    targeting: _struct_pb2.Struct
    spec_json: str
    owner: str
    description: str
    planned_units: int
    def __init__(self, exp_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[_Union[ExperimentStatus, str]] = ..., rollout_pct: _Optional[float] = ..., layer: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[VariantSpec, _Mapping]]] = ..., shipped_variant: _Optional[str] = ..., version: _Optional[int] = ..., targeting: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., spec_json: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., planned_units: _Optional[int] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ("spec_json", "changed_by")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    changed_by: str
    def __init__(self, spec_json: _Optional[str] = ..., changed_by: _Optional[str] = ...) -> None: ...

class CreateExperimentResponse(_message.Message):
    __slots__ = ("experiment", "config_version")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    config_version: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., config_version: _Optional[int] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("exp_id",)
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    def __init__(self, exp_id: _Optional[str] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ("experiment", "config_version")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    config_version: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., config_version: _Optional[int] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: ExperimentStatus
    def __init__(self, status: _Optional[_Union[ExperimentStatus, str]] = ...) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments", "config_version")
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    config_version: int
    def __init__(self, experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ..., config_version: _Optional[int] = ...) -> None: ...

class UpdateExperimentRequest(_message.Message):
    __slots__ = ("exp_id", "status", "rollout_pct", "targeting", "expected_version", "name", "owner", "description", "planned_units", "changed_by")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_PCT_FIELD_NUMBER: _ClassVar[int]
    TARGETING_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PLANNED_UNITS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    status: ExperimentStatus
    rollout_pct: float
    targeting: _struct_pb2.Struct
    expected_version: int
    name: str
    owner: str
    description: str
    planned_units: int
    changed_by: str
    def __init__(self, exp_id: _Optional[str] = ..., status: _Optional[_Union[ExperimentStatus, str]] = ..., rollout_pct: _Optional[float] = ..., targeting: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., expected_version: _Optional[int] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., description: _Optional[str] = ..., planned_units: _Optional[int] = ..., changed_by: _Optional[str] = ...) -> None: ...

class UpdateExperimentResponse(_message.Message):
    __slots__ = ("experiment", "config_version")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    config_version: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., config_version: _Optional[int] = ...) -> None: ...

class ShipVariantRequest(_message.Message):
    __slots__ = ("exp_id", "variant_id", "expected_version", "changed_by")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    variant_id: str
    expected_version: int
    changed_by: str
    def __init__(self, exp_id: _Optional[str] = ..., variant_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., changed_by: _Optional[str] = ...) -> None: ...

class ShipVariantResponse(_message.Message):
    __slots__ = ("experiment", "config_version")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    config_version: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., config_version: _Optional[int] = ...) -> None: ...

class ArchiveExperimentRequest(_message.Message):
    __slots__ = ("exp_id", "expected_version", "changed_by")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    expected_version: int
    changed_by: str
    def __init__(self, exp_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., changed_by: _Optional[str] = ...) -> None: ...

class ArchiveExperimentResponse(_message.Message):
    __slots__ = ("experiment", "config_version")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    config_version: int
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., config_version: _Optional[int] = ...) -> None: ...

class GetExperimentHistoryRequest(_message.Message):
    __slots__ = ("exp_id",)
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    def __init__(self, exp_id: _Optional[str] = ...) -> None: ...

class ConfigChange(_message.Message):
    __slots__ = ("config_version", "committed_at", "change", "changed_by", "exp_ids")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    EXP_IDS_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    committed_at: _timestamp_pb2.Timestamp
    change: str
    changed_by: str
    exp_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, config_version: _Optional[int] = ..., committed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change: _Optional[str] = ..., changed_by: _Optional[str] = ..., exp_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetExperimentHistoryResponse(_message.Message):
    __slots__ = ("changes", "config_version")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ConfigChange]
    config_version: int
    def __init__(self, changes: _Optional[_Iterable[_Union[ConfigChange, _Mapping]]] = ..., config_version: _Optional[int] = ...) -> None: ...
