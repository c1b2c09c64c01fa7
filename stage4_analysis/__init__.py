"""Stage 4: the analysis — the hand-outs' experiments, computed once, plotted from records.

What this stage adds over stage 3 (the library): experiments. Every training run is a record
(``runs/<store>/<config hash>.json``: config, per-step and per-epoch metrics, status ok /
diverged / failed with the error, wall time, library versions), written the moment the run ends;
figures and the report are drawn from records only. So an interrupted reproduction resumes where
it stopped, a repeated one only re-plots, and a diverging or crashing run is data, not a crash.
What it leaves out: hyper-parameter search beyond the hand-outs' grids, and any plotting that is
not computed from a saved record.

    python -m stage4_analysis                   # quick offline reproduction (MNIST sample)
    python -m stage4_analysis --full            # MNIST (if present) and Fashion-MNIST
    python -m stage4_analysis --only lr-study   # some experiments (+ what they depend on)
    python -m stage4_analysis --list            # the experiments
    python -m stage4_analysis.lr_study --full   # one experiment, same flags
    flags: --jobs N (default: all cores), --out DIR (default runs/analysis/{quick,full}),
           --seeds N, --lrs LR..., --epochs N / --limit N (smoke runs), --download, --no-progress

Output: ``<out>/runs/`` (records), ``<out>/figures/<NAME>/*.png``, ``<out>/sections/<NAME>.md``
and ``<out>/report.md`` (all sections, every figure embedded with its numbers).

Infrastructure modules: :mod:`.store` (records by config hash), :mod:`.runner` (``RunSpec``,
the process pool, resume, failure handling), :mod:`.aggregate` (mean ± std over seeds, ddof=1),
:mod:`.plots` (bands), :mod:`.report` (sections, tables), :mod:`.registry` (which modules, in
which order), :mod:`.api` (``Context``, ``SkipExperiment``), :mod:`.cli`, :mod:`.common` (the
stage-3 / stage-2 executors, cached data loading), :mod:`.vu` and :mod:`.cs3317` (the two
hand-outs' shared settings).

Writing an experiment module
----------------------------
An experiment is one module ``stage4_analysis/<module>.py`` whose name is listed in
``registry.MODULES`` (the issue-8 names ``disc``, ``digits``, ``autoencoder``, ``iris``,
``jacobian`` are already listed; a listed module that does not exist yet is skipped). Settings
are module-level constants at the top. It defines::

    NAME = "disc"                      # CLI / report name (hyphens or underscores both accepted)
    TITLE = "8. Disc test: ..."        # section title
    DEPENDS = ()                       # optional: NAMEs whose records plan() reads (run first)

    def plan(ctx) -> list[RunSpec]
        # The runs, cheap to compute (no training here). ctx.quick says quick or full mode;
        # ctx.option("seeds", default) etc. read CLI overrides; raise SkipExperiment("why")
        # when it cannot run here (e.g. data absent) - the report shows the reason.
        # An experiment with nothing to train (a printed table) returns [].

    def plot(records, fig_dir, ctx) -> list[Path]
        # records: one per planned spec, in plan order (status "ok" / "diverged" / "failed" /
        # "missing"; r["config"], r["metrics"], r["error"], r["wall_time"]). Draw with
        # shared.plotting.new_figure / save_figure into fig_dir; return the PNG paths.

    def summarize(records, figures, ctx) -> str
        # Markdown: the numbers (tables via report.md_table, pct, pm), which data set and split
        # they come from (report.data_description). Figures not embedded here (use
        # ctx.rel(path) for the link) are appended automatically.

    if __name__ == "__main__":         # python -m stage4_analysis.<module>
        from .cli import main
        raise SystemExit(main(only=[NAME]))

A run is ``RunSpec(execute="pkg.module:function", config={...}, store="folder", label="...")``.
``execute`` is a module-level function ``f(config: dict) -> {"metrics": dict, "status": "ok" |
"diverged", "message": str | None}`` run in a worker process; raise on failure (recorded as
failed). ``config`` must hold everything that changes the result (data set, split, seed,
hyper-parameters, a code version) as JSON values: its hash is the record's name. For a stage-3
network use ``common.stage3_config(...)`` with ``common.execute_stage3``; for anything else
(the autoencoder's custom model, per-sample SGD on the disc) write your own executor next to
your experiment, using ``common.load_data`` for cached data. Records of other experiments:
``ctx.records_of(NAME)`` (declare it in DEPENDS). Mean ± std over seeds:
``aggregate.aggregate(records, lambda r: aggregate.epoch_series(r, "val_acc"))``; bands:
``plots.band``. Tests: run the module through ``cli.reproduce([NAME], out=tmp_path, jobs=1,
options={"epochs": 1, "limit": 200}, progress=False)`` and check the files.
"""
