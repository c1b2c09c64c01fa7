"""Stage 4: the analysis — the hand-outs' experiments, computed once, plotted from records.

What this stage adds over stage 3 (the library): experiments. Every training run is a JSON record
(config, per-step and per-epoch metrics, status ok / diverged / failed with the error, wall time,
BLAS threads, library versions), written the moment the run ends; figures and the report are
drawn from records only. So an interrupted reproduction resumes where it stopped, a repeated one
only re-plots, and a diverging or crashing run is data, not a crash.
What it leaves out: hyper-parameter search beyond the hand-outs' grids, and any plotting that is
not computed from a saved record.

    python -m stage4_analysis                   # quick offline reproduction (MNIST sample)
    python -m stage4_analysis --full            # MNIST (if present) and Fashion-MNIST
    python -m stage4_analysis --only lr-study   # some experiments (+ what they depend on)
    python -m stage4_analysis --list            # the experiments
    python -m stage4_analysis.experiments.lr_study --full   # one experiment, same flags
    python -m stage4_analysis.speed             # the speed measurements (never run by default)
    python -m stage4_analysis.compare           # the rungs side by side on one network

Layout: :mod:`.experiments` (one module per experiment, in ``experiments.ORDER``; ``vu`` and
``cs3317`` hold their hand-out's shared settings), :mod:`.runs` (``Run``, the records, execution
with joblib or Dask, the ``Context`` an experiment gets), :mod:`.report` (mean ± std over seeds,
tables, sections, ``report.md``), :mod:`.plots`, :mod:`.data` (the data sets, in one place),
:mod:`.train` (the stage-3 and stage-2 runs most experiments share), :mod:`.cli`,
:mod:`.compare`, :mod:`.speed`. How to add an experiment: ``stage4_analysis/README.md``.
"""
