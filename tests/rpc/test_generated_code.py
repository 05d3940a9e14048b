"""The committed generated code is exactly what scripts/gen_protos.sh makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "rayab" / "rpc" / "_generated"


def test_generated_code_is_reproducible(tmp_path):
    out = tmp_path / "generated"
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(out)], check=True, cwd=ROOT,
                   env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    made = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in GENERATED.iterdir() if p.is_file())
    assert made == committed
    assert {"assignment_pb2.py", "assignment_pb2_grpc.py", "experiments_pb2.py", "experiments_pb2.pyi"} <= set(made)
    _, mismatch, errors = filecmp.cmpfiles(out, GENERATED, made, shallow=False)
    assert mismatch == [] and errors == []


def test_every_proto_file_is_generated():
    protos = sorted(p.stem for p in (ROOT / "protos" / "rayab" / "v1").glob("*.proto"))
    assert protos == ["assignment", "experiments", "results"]
    for stem in protos:
        assert (GENERATED / f"{stem}_pb2.py").is_file() and (GENERATED / f"{stem}_pb2_grpc.py").is_file()
