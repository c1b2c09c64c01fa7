"""The tour notebooks: one beside each stage, committed without outputs, each running top to
bottom in a fresh ``python3`` kernel with every check it prints passing.

Each notebook is executed with nbclient from a temporary copy (the kernel's working folder is a
temporary folder named like the stage's), with ``MLP_LADDER_OUT`` pointing at a temporary output
folder, so running the suite writes nothing into the repository; the test checks that the
notebook wrote nothing beside its copy. Skipped when nbclient, nbformat, ipykernel or the
``python3`` kernel are missing (``pip install -e ".[dev]"`` installs them).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("stage1_scalar", "stage2_perinstance", "stage3_batched", "stage4_analysis")
NOTEBOOKS = sorted(p for stage in STAGES for p in (ROOT / stage).glob("*.ipynb"))
CELL_TIMEOUT = 60  # seconds per cell


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_a_notebook(stage):
    found = sorted(p.name for p in (ROOT / stage).glob("*.ipynb"))
    assert found, f"{stage}/ has no tour notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; "
                       "clear them before committing (Jupyter: Edit > Clear Outputs of All Cells)")


def _python3_kernel_or_skip():
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no python3 Jupyter kernel installed (python -m ipykernel install --user)")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    _python3_kernel_or_skip()
    import nbformat
    from nbclient import NotebookClient

    workdir = tmp_path / path.parent.name            # cwd of the kernel: a copy of the folder
    workdir.mkdir()
    copy = workdir / path.name
    shutil.copy(path, copy)
    out = tmp_path / "out"
    monkeypatch.setenv("MLP_LADDER_OUT", str(out))  # the kernel inherits this environment
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")

    nb = nbformat.read(copy, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "a code cell did not run"
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    # Each tour prints its checks as "...: True" / "...: False" (stage 1 also "agree" /
    # "DIFFERENT" per value): a False or a DIFFERENT means the rungs or the hand-out disagree.
    text = "".join(o.get("text", "") for cell in code for o in cell.outputs
                   if o.output_type == "stream")
    verdicts = re.findall(r": (True|False)$", text, flags=re.MULTILINE)
    assert verdicts, f"{path.name} printed no check"
    failed = [line for line in text.splitlines()
              if line.endswith(": False") or "DIFFERENT" in line]
    assert not failed, f"{path.name}: " + "; ".join(failed)

    left = sorted(p.name for p in workdir.iterdir() if p != copy)
    assert not left, f"{path.name} wrote {left} into its own folder instead of $MLP_LADDER_OUT"
