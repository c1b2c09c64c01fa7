"""The speed report names numpy's BLAS (library, version, kernel, threads) and warns when the
environment forces the kernel; without PyTorch it says nothing about torch threads."""

from __future__ import annotations

from shared.threads import blas_library, kernel_lines


def test_the_blas_line_names_library_version_kernel_and_threads(monkeypatch):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    info = blas_library()
    lines = kernel_lines(info)
    assert len(lines) == 1 and lines[0].startswith("BLAS: ")
    assert f"kernel {info['kernel'] or 'unknown'}" in lines[0]
    assert str(info["threads"]) in lines[0] and "(threadpoolctl)" in lines[0]
    if info["library"]:
        assert info["library"] in lines[0] and info["version"] in lines[0]


def test_a_forced_kernel_is_warned_about():
    info = {"library": "openblas", "version": "0.3.31", "kernel": "Haswell", "threads": 1,
            "forced_by": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}}
    lines = kernel_lines(info)
    assert lines[0] == "BLAS: openblas 0.3.31, kernel Haswell, 1 thread(s) (threadpoolctl)"
    assert lines[1].startswith("warning: the environment forces this kernel "
                               "(OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=512)")
    assert "env -u OPENBLAS_CORETYPE" in lines[1]
    only_l2 = dict(info, forced_by={"OPENBLAS_L2_SIZE": "512"})
    assert len(kernel_lines(only_l2)) == 1          # a cache size alone forces no kernel


def test_blas_library_reads_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Sandybridge")
    assert blas_library()["forced_by"]["OPENBLAS_CORETYPE"] == "Sandybridge"


def test_without_torch_the_threads_line_does_not_mention_it():
    from stage4_analysis.speed.ladder import threads_line

    env = {"numpy_threads": "1 (threadpoolctl)", "torch": None, "torch_threads_default": None,
           "cpus": 2, "loadavg_start": [0.5]}
    line = threads_line(env, threads=1)
    assert "None" not in line and "torch" not in line
    assert line == ("threads: numpy BLAS 1 (threadpoolctl); 2 CPUs; load average 0.50; "
                    "--threads 1: numpy BLAS uses 1")
    with_torch = threads_line(dict(env, torch="2.13.0", torch_threads_default=2), threads=None)
    assert "torch 2 by default" in with_torch
