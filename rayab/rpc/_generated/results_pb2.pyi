from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IntervalMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERVAL_METHOD_UNSPECIFIED: _ClassVar[IntervalMethod]
    INTERVAL_METHOD_PERCENTILE: _ClassVar[IntervalMethod]
    INTERVAL_METHOD_BASIC: _ClassVar[IntervalMethod]
    INTERVAL_METHOD_NORMAL: _ClassVar[IntervalMethod]

class Correction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CORRECTION_UNSPECIFIED: _ClassVar[Correction]
    CORRECTION_NONE: _ClassVar[Correction]
    CORRECTION_BONFERRONI: _ClassVar[Correction]
    CORRECTION_HOLM: _ClassVar[Correction]
    CORRECTION_HOCHBERG: _ClassVar[Correction]
    CORRECTION_SIDAK: _ClassVar[Correction]
    CORRECTION_HOLM_SIDAK: _ClassVar[Correction]
    CORRECTION_BH: _ClassVar[Correction]
    CORRECTION_BY: _ClassVar[Correction]

class IntervalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERVAL_KIND_UNSPECIFIED: _ClassVar[IntervalKind]
    INTERVAL_KIND_FIXED: _ClassVar[IntervalKind]
    INTERVAL_KIND_SEQUENTIAL: _ClassVar[IntervalKind]

class BayesianPath(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BAYESIAN_PATH_UNSPECIFIED: _ClassVar[BayesianPath]
    BAYESIAN_PATH_BOOTSTRAP: _ClassVar[BayesianPath]
    BAYESIAN_PATH_NORMAL: _ClassVar[BayesianPath]

class SqlDialect(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SQL_DIALECT_UNSPECIFIED: _ClassVar[SqlDialect]
    SQL_DIALECT_DUCKDB: _ClassVar[SqlDialect]
    SQL_DIALECT_TRINO: _ClassVar[SqlDialect]

class HealthStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_STATUS_UNSPECIFIED: _ClassVar[HealthStatus]
    HEALTH_STATUS_OK: _ClassVar[HealthStatus]
    HEALTH_STATUS_WARN: _ClassVar[HealthStatus]
    HEALTH_STATUS_NO_DATA: _ClassVar[HealthStatus]
    HEALTH_STATUS_FAIL: _ClassVar[HealthStatus]
INTERVAL_METHOD_UNSPECIFIED: IntervalMethod
INTERVAL_METHOD_PERCENTILE: IntervalMethod
INTERVAL_METHOD_BASIC: IntervalMethod
INTERVAL_METHOD_NORMAL: IntervalMethod
CORRECTION_UNSPECIFIED: Correction
CORRECTION_NONE: Correction
CORRECTION_BONFERRONI: Correction
CORRECTION_HOLM: Correction
CORRECTION_HOCHBERG: Correction
CORRECTION_SIDAK: Correction
CORRECTION_HOLM_SIDAK: Correction
CORRECTION_BH: Correction
CORRECTION_BY: Correction
INTERVAL_KIND_UNSPECIFIED: IntervalKind
INTERVAL_KIND_FIXED: IntervalKind
INTERVAL_KIND_SEQUENTIAL: IntervalKind
BAYESIAN_PATH_UNSPECIFIED: BayesianPath
BAYESIAN_PATH_BOOTSTRAP: BayesianPath
BAYESIAN_PATH_NORMAL: BayesianPath
SQL_DIALECT_UNSPECIFIED: SqlDialect
SQL_DIALECT_DUCKDB: SqlDialect
SQL_DIALECT_TRINO: SqlDialect
HEALTH_STATUS_UNSPECIFIED: HealthStatus
HEALTH_STATUS_OK: HealthStatus
HEALTH_STATUS_WARN: HealthStatus
HEALTH_STATUS_NO_DATA: HealthStatus
HEALTH_STATUS_FAIL: HealthStatus

class ResultsQuery(_message.Message):
    __slots__ = ("exp_id", "analysis_type", "start_hour", "end_hour", "metrics", "projection", "where", "confidence_level", "method", "correction", "correct_across_slices", "interval", "planned_units", "bayesian")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    CORRECT_ACROSS_SLICES_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PLANNED_UNITS_FIELD_NUMBER: _ClassVar[int]
    BAYESIAN_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    analysis_type: str
    start_hour: str
    end_hour: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    projection: _containers.RepeatedScalarFieldContainer[str]
    where: str
    confidence_level: float
    method: IntervalMethod
    correction: Correction
    correct_across_slices: bool
    interval: IntervalKind
    planned_units: float
    bayesian: BayesianPath
    def __init__(self, exp_id: _Optional[str] = ..., analysis_type: _Optional[str] = ..., start_hour: _Optional[str] = ..., end_hour: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ..., projection: _Optional[_Iterable[str]] = ..., where: _Optional[str] = ..., confidence_level: _Optional[float] = ..., method: _Optional[_Union[IntervalMethod, str]] = ..., correction: _Optional[_Union[Correction, str]] = ..., correct_across_slices: _Optional[bool] = ..., interval: _Optional[_Union[IntervalKind, str]] = ..., planned_units: _Optional[float] = ..., bayesian: _Optional[_Union[BayesianPath, str]] = ...) -> None: ...

class QueryResultsRequest(_message.Message):
    __slots__ = ("query", "cuped")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CUPED_FIELD_NUMBER: _ClassVar[int]
    query: ResultsQuery
    cuped: bool
    def __init__(self, query: _Optional[_Union[ResultsQuery, _Mapping]] = ..., cuped: _Optional[bool] = ...) -> None: ...

class QueryResultsResponse(_message.Message):
    __slots__ = ("results", "cached", "cuped_results")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    CUPED_RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[MetricResult]
    cached: bool
    cuped_results: _containers.RepeatedCompositeFieldContainer[CupedResult]
    def __init__(self, results: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., cached: _Optional[bool] = ..., cuped_results: _Optional[_Iterable[_Union[CupedResult, _Mapping]]] = ...) -> None: ...

class TimeseriesRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: ResultsQuery
    def __init__(self, query: _Optional[_Union[ResultsQuery, _Mapping]] = ...) -> None: ...

class TimeseriesResponse(_message.Message):
    __slots__ = ("results", "cached")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[MetricResult]
    cached: bool
    def __init__(self, results: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., cached: _Optional[bool] = ...) -> None: ...

class SliceValue(_message.Message):
    __slots__ = ("dimension", "value")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    value: str
    def __init__(self, dimension: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("exp_id", "metric", "variant_id", "slice", "n_events", "units", "estimate", "ci_lower", "ci_upper", "control_id", "abs_diff", "abs_ci_lower", "abs_ci_upper", "rel_diff", "rel_ci_lower", "rel_ci_upper", "pvalue", "adjusted_pvalue", "confidence_level", "n_replicates", "n_invalid", "error", "interval", "start_hour", "end_hour", "chance_to_beat_control", "risk_control", "risk_variant", "rel_cred_lower", "rel_cred_upper", "bayesian", "bayes_error")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    N_EVENTS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    CONTROL_ID_FIELD_NUMBER: _ClassVar[int]
    ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    ABS_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    ABS_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    REL_DIFF_FIELD_NUMBER: _ClassVar[int]
    REL_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    REL_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    PVALUE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTED_PVALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    N_REPLICATES_FIELD_NUMBER: _ClassVar[int]
    N_INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    CHANCE_TO_BEAT_CONTROL_FIELD_NUMBER: _ClassVar[int]
    RISK_CONTROL_FIELD_NUMBER: _ClassVar[int]
    RISK_VARIANT_FIELD_NUMBER: _ClassVar[int]
    REL_CRED_LOWER_FIELD_NUMBER: _ClassVar[int]
    REL_CRED_UPPER_FIELD_NUMBER: _ClassVar[int]
    BAYESIAN_FIELD_NUMBER: _ClassVar[int]
    BAYES_ERROR_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    metric: str
    variant_id: str
    slice: _containers.RepeatedCompositeFieldContainer[SliceValue]
    n_events: int
    units: int
    estimate: float
    ci_lower: float
    ci_upper: float
    control_id: str
    abs_diff: float
    abs_ci_lower: float
    abs_ci_upper: float
    rel_diff: float
    rel_ci_lower: float
    rel_ci_upper: float
    pvalue: float
    adjusted_pvalue: float
    confidence_level: float
    n_replicates: int
    n_invalid: int
    error: str
    interval: IntervalKind
    start_hour: str
    end_hour: str
    chance_to_beat_control: float
    risk_control: float
    risk_variant: float
    rel_cred_lower: float
    rel_cred_upper: float
    bayesian: BayesianPath
    bayes_error: str
    def __init__(self, exp_id: _Optional[str] = ..., metric: _Optional[str] = ..., variant_id: _Optional[str] = ..., slice: _Optional[_Iterable[_Union[SliceValue, _Mapping]]] = ..., n_events: _Optional[int] = ..., units: _Optional[int] = ..., estimate: _Optional[float] = ..., ci_lower: _Optional[float] = ..., ci_upper: _Optional[float] = ..., control_id: _Optional[str] = ..., abs_diff: _Optional[float] = ..., abs_ci_lower: _Optional[float] = ..., abs_ci_upper: _Optional[float] = ..., rel_diff: _Optional[float] = ..., rel_ci_lower: _Optional[float] = ..., rel_ci_upper: _Optional[float] = ..., pvalue: _Optional[float] = ..., adjusted_pvalue: _Optional[float] = ..., confidence_level: _Optional[float] = ..., n_replicates: _Optional[int] = ..., n_invalid: _Optional[int] = ..., error: _Optional[str] = ..., interval: _Optional[_Union[IntervalKind, str]] = ..., start_hour: _Optional[str] = ..., end_hour: _Optional[str] = ..., chance_to_beat_control: _Optional[float] = ..., risk_control: _Optional[float] = ..., risk_variant: _Optional[float] = ..., rel_cred_lower: _Optional[float] = ..., rel_cred_upper: _Optional[float] = ..., bayesian: _Optional[_Union[BayesianPath, str]] = ..., bayes_error: _Optional[str] = ...) -> None: ...

class CupedResult(_message.Message):
    __slots__ = ("exp_id", "metric", "variant_id", "slice", "units", "control_id", "theta", "abs_diff", "abs_ci_lower", "abs_ci_upper", "rel_diff", "rel_ci_lower", "rel_ci_upper", "pvalue", "raw_abs_diff", "raw_abs_ci_lower", "raw_abs_ci_upper", "raw_rel_diff", "raw_rel_ci_lower", "raw_rel_ci_upper", "raw_pvalue", "variance_reduction", "confidence_level", "n_replicates", "n_invalid", "error")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VARIANT_ID_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_ID_FIELD_NUMBER: _ClassVar[int]
    THETA_FIELD_NUMBER: _ClassVar[int]
    ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    ABS_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    ABS_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    REL_DIFF_FIELD_NUMBER: _ClassVar[int]
    REL_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    REL_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    PVALUE_FIELD_NUMBER: _ClassVar[int]
    RAW_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    RAW_ABS_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    RAW_ABS_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    RAW_REL_DIFF_FIELD_NUMBER: _ClassVar[int]
    RAW_REL_CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    RAW_REL_CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    RAW_PVALUE_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_REDUCTION_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    N_REPLICATES_FIELD_NUMBER: _ClassVar[int]
    N_INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    metric: str
    variant_id: str
    slice: _containers.RepeatedCompositeFieldContainer[SliceValue]
    units: int
    control_id: str
    theta: float
    abs_diff: float
    abs_ci_lower: float
    abs_ci_upper: float
    rel_diff: float
    rel_ci_lower: float
    rel_ci_upper: float
    pvalue: float
    raw_abs_diff: float
    raw_abs_ci_lower: float
    raw_abs_ci_upper: float
    raw_rel_diff: float
    raw_rel_ci_lower: float
    raw_rel_ci_upper: float
    raw_pvalue: float
    variance_reduction: float
    confidence_level: float
    n_replicates: int
    n_invalid: int
    error: str
    def __init__(self, exp_id: _Optional[str] = ..., metric: _Optional[str] = ..., variant_id: _Optional[str] = ..., slice: _Optional[_Iterable[_Union[SliceValue, _Mapping]]] = ..., units: _Optional[int] = ..., control_id: _Optional[str] = ..., theta: _Optional[float] = ..., abs_diff: _Optional[float] = ..., abs_ci_lower: _Optional[float] = ..., abs_ci_upper: _Optional[float] = ..., rel_diff: _Optional[float] = ..., rel_ci_lower: _Optional[float] = ..., rel_ci_upper: _Optional[float] = ..., pvalue: _Optional[float] = ..., raw_abs_diff: _Optional[float] = ..., raw_abs_ci_lower: _Optional[float] = ..., raw_abs_ci_upper: _Optional[float] = ..., raw_rel_diff: _Optional[float] = ..., raw_rel_ci_lower: _Optional[float] = ..., raw_rel_ci_upper: _Optional[float] = ..., raw_pvalue: _Optional[float] = ..., variance_reduction: _Optional[float] = ..., confidence_level: _Optional[float] = ..., n_replicates: _Optional[int] = ..., n_invalid: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ("exp_id", "start_hour", "end_hour", "srm_by", "srm_threshold")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    SRM_BY_FIELD_NUMBER: _ClassVar[int]
    SRM_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    start_hour: str
    end_hour: str
    srm_by: _containers.RepeatedScalarFieldContainer[str]
    srm_threshold: float
    def __init__(self, exp_id: _Optional[str] = ..., start_hour: _Optional[str] = ..., end_hour: _Optional[str] = ..., srm_by: _Optional[_Iterable[str]] = ..., srm_threshold: _Optional[float] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("name", "status", "reason", "details")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: HealthStatus
    reason: str
    details: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[HealthStatus, str]] = ..., reason: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("checks", "status")
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[HealthCheck]
    status: HealthStatus
    def __init__(self, checks: _Optional[_Iterable[_Union[HealthCheck, _Mapping]]] = ..., status: _Optional[_Union[HealthStatus, str]] = ...) -> None: ...

class PowerRequest(_message.Message):
    __slots__ = ("exp_id", "analysis_type", "start_hour", "end_hour", "metrics", "relative_mde", "alpha", "power", "n_arms", "days")
    EXP_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_MDE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    N_ARMS_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    exp_id: str
    analysis_type: str
    start_hour: str
    end_hour: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    relative_mde: float
    alpha: float
    power: float
    n_arms: int
    days: int
    def __init__(self, exp_id: _Optional[str] = ..., analysis_type: _Optional[str] = ..., start_hour: _Optional[str] = ..., end_hour: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ..., relative_mde: _Optional[float] = ..., alpha: _Optional[float] = ..., power: _Optional[float] = ..., n_arms: _Optional[int] = ..., days: _Optional[int] = ...) -> None: ...

class MetricHistory(_message.Message):
    __slots__ = ("metric", "mean", "variance", "n_units", "units_per_day", "mde_after_days")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_FIELD_NUMBER: _ClassVar[int]
    N_UNITS_FIELD_NUMBER: _ClassVar[int]
    UNITS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    MDE_AFTER_DAYS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    mean: float
    variance: float
    n_units: int
    units_per_day: float
    mde_after_days: float
    def __init__(self, metric: _Optional[str] = ..., mean: _Optional[float] = ..., variance: _Optional[float] = ..., n_units: _Optional[int] = ..., units_per_day: _Optional[float] = ..., mde_after_days: _Optional[float] = ...) -> None: ...

class PowerResponse(_message.Message):
    __slots__ = ("n_per_arm", "n_total", "duration_days", "alpha_per_test", "n_tests", "binding_metric", "metrics")
    N_PER_ARM_FIELD_NUMBER: _ClassVar[int]
    N_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DURATION_DAYS_FIELD_NUMBER: _ClassVar[int]
    ALPHA_PER_TEST_FIELD_NUMBER: _ClassVar[int]
    N_TESTS_FIELD_NUMBER: _ClassVar[int]
    BINDING_METRIC_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    n_per_arm: int
    n_total: int
    duration_days: int
    alpha_per_test: float
    n_tests: int
    binding_metric: str
    metrics: _containers.RepeatedCompositeFieldContainer[MetricHistory]
    def __init__(self, n_per_arm: _Optional[int] = ..., n_total: _Optional[int] = ..., duration_days: _Optional[int] = ..., alpha_per_test: _Optional[float] = ..., n_tests: _Optional[int] = ..., binding_metric: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[MetricHistory, _Mapping]]] = ...) -> None: ...

class GenerateSqlRequest(_message.Message):
    __slots__ = ("query", "dialect")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    query: ResultsQuery
    dialect: SqlDialect
    def __init__(self, query: _Optional[_Union[ResultsQuery, _Mapping]] = ..., dialect: _Optional[_Union[SqlDialect, str]] = ...) -> None: ...

class GenerateSqlResponse(_message.Message):
    __slots__ = ("sql", "dialect")
    SQL_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    sql: str
    dialect: SqlDialect
    def __init__(self, sql: _Optional[str] = ..., dialect: _Optional[_Union[SqlDialect, str]] = ...) -> None: ...
