"""Which optional extra installs a module: a command whose extra is missing ends in one line naming it.

The base install (``pip install rayab``) is the light core: the Python API, the gRPC clients and the commands that
read a warehouse. The extras add the cluster stack (``cluster``: Ray, the compiled kernels, the gRPC server's
health and reflection services), DuckDB (``sql``), the report's charts (``report``) and the console (``console``).

>>> missing_extra_line(ModuleNotFoundError("No module named 'ray'", name="ray.util"))
"needs the 'cluster' extra (ray is not installed): pip install 'rayab[cluster]'"
>>> missing_extra_line(ModuleNotFoundError("No module named 'leftpad'", name="leftpad")) is None
True
"""

from __future__ import annotations

__all__ = ["EXTRA_OF_MODULE", "missing_extra_line"]

# top-level module -> (the extra that installs it, the distribution that provides it)
EXTRA_OF_MODULE: dict[str, tuple[str, str]] = {
    "ray": ("cluster", "ray"),
    "numba": ("cluster", "numba"),
    "grpc_health": ("cluster", "grpcio-health-checking"),
    "grpc_reflection": ("cluster", "grpcio-reflection"),
    "duckdb": ("sql", "duckdb"),
    "matplotlib": ("report", "matplotlib"),
    "starlette": ("console", "starlette"),
    "jinja2": ("console", "jinja2"),
    "uvicorn": ("console", "uvicorn"),
    "multipart": ("console", "python-multipart"),
}


def missing_extra_line(err: ImportError) -> str | None:
    """The one line for a module of an extra that is not installed, or ``None`` if ``err`` is about another."""
    module = (err.name or "").split(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    extra = EXTRA_OF_MODULE[module][0]
    return f"needs the '{extra}' extra ({module} is not installed): pip install 'rayab[{extra}]'"
