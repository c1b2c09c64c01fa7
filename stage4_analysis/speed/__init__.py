"""Speed measurements, kept apart from the experiments: nothing here runs unless asked.

    python -m stage4_analysis.speed            # the whole ladder (stage 1 vs micrograd, stage 2
                                               #   and stage 3 vs PyTorch, memory), ratios
    python -m stage4_analysis.speed.stage1     # stage 1 vs micrograd alone
    python -m stage4_analysis.speed.stage2     # stage 2 vs PyTorch at batch size 1
    python -m stage4_analysis.speed.stage3     # stage 3 vs PyTorch, GEMM bound, peak memory
    python -m stage4_analysis.speed.playground # the playground's step and redraw

Modules: :mod:`.ladder` (runs the parts, writes ``speed.json``, ``ladder.png``, ``speed.md``),
:mod:`.targets` (the pure half: targets, tables, chart from a saved record), and one benchmark
per rung (:mod:`.stage1`, :mod:`.stage2`, :mod:`.stage3`). Each compares the same network, data,
initial weights and dtype on both sides with interleaved repeats and reports medians and ratios.
"""
