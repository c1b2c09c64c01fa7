"""The VU Amsterdam hand-out's set-up, shared by experiments 1-5 (learning curve, train vs
validation, seeds, learning-rate study, final run).

What this adds: one place for the network and training settings of those five experiments, so a
configuration that two experiments ask for is the same config dict, hence the same record key,
hence one run (e.g. the seed study at LR is the learning-rate study's row for LR). All their
stage-3 runs live in the store ``runs/vu/``.

The network is the hand-out's 784-300 (sigmoid)-10 (softmax), trained with plain SGD (no momentum,
no weight decay) on mini-batches of BATCH_SIZE for EPOCHS epochs, float32, Xavier-normal initial
weights (N(0, 2 / (fan_in + fan_out)), the usual choice for sigmoid units), zero biases.

Batch size 32: the hand-out trains one instance at a time or with small accumulated batches; 32
keeps the number of updates per epoch high (1,719 per epoch on 55,000 images) while letting numpy
work on matrices. With plain SGD at batch 32 the hand-out's rates (0.001 - 0.03) take few enough
steps of small enough size that the network is still far from converged after 5 epochs: that is a
finding of the study, not a bug, and the study adds larger rates to show where learning speeds up
and where it breaks down.
"""

from __future__ import annotations

from shared import divergence

from ..data import FULL_IMAGES, QUICK_IMAGES, data_problem, short_problem
from ..report import aggregate, data_description, epoch_series, group_by, md_table, pm
from ..runs import Context, Run, SkipExperiment, option, positive_int
from ..train import execute_stage2, execute_stage3, stage2_config, stage3_config

HIDDEN = 300
ACTIVATION = "sigmoid"
INIT = "xavier"
BATCH_SIZE = 32
EPOCHS = 5
DTYPE = "float32"
#: The learning rate of experiments 1-3 (the largest of the hand-out's four).
LR = 0.03
HANDOUT_RATES = (0.001, 0.003, 0.01, 0.03)
SEEDS = 5
#: Quick mode: enough seeds for a spread, few enough to keep the quick reproduction short.
QUICK_SEEDS = 2
#: ``--seeds N``: the number of initialisations the studies average over (experiments 2-4).
SEEDS_OPTION = option("--seeds", type=positive_int, metavar="N",
                      help="random initialisations per setting, in every experiment that "
                      f"averages over seeds (default: each one's own; {SEEDS} in the VU studies, "
                      f"{QUICK_SEEDS} in quick mode)")
#: Above this mean training loss in an epoch a run counts as diverged (the project's rule,
#: ``shared.divergence``: 3 x ln 10, three times the loss of a uniform guess over the 10 classes).
DIVERGE_ABOVE = divergence.limit(10)

QUICK_DATASETS = (QUICK_IMAGES,)
FULL_DATASETS = FULL_IMAGES



def datasets(ctx: Context, name: str, final: bool = False) -> list[str]:
    """The data sets this experiment runs on here: in quick mode the shipped MNIST sample, in full
    mode MNIST and Fashion-MNIST. A data set whose files are absent is left out with a note (the
    loader's message); if none is left, the experiment is skipped with that message."""
    wanted = QUICK_DATASETS if ctx.quick else FULL_DATASETS
    ok = []
    for d in wanted:
        problem = data_problem(d, final)
        if problem is None:
            ok.append(d)
        else:
            full = name == "lr-study"  # the full instructions once, the short form elsewhere
            text = ("\n>\n> " + problem.replace("\n", "\n> ")) if full else (
                " " + short_problem(problem) + ". The loader's full message, with how to get "
                "the files, is in the learning-rate study's section.")
            ctx.note(name, f"**{d} skipped** — its files are not on this machine and nothing "
                     f"was substituted.{text}" + ("\n>\n> " if full else " ")
                     + "(Or rerun with `--download` to fetch them.)")
    if not ok:
        raise SkipExperiment(f"no data set available among {', '.join(wanted)} (see notes)")
    return ok


def spec(ctx: Context, dataset: str, lr: float, seed: int, *, final: bool = False,
         epochs: int = EPOCHS, batch_size: int = BATCH_SIZE, lr_decay: float | None = None
         ) -> Run:
    """One stage-3 run of the hand-out network (``--epochs`` / ``--limit`` override the epochs
    and the number of training samples, for smoke tests)."""
    cfg = stage3_config(dataset=dataset, final=final, hidden_dims=(HIDDEN,),
                        activation=ACTIVATION, lr=lr, momentum=0.0, batch_size=batch_size,
                        epochs=ctx.option("epochs", epochs), seed=seed, dtype=DTYPE, init=INIT,
                        limit=ctx.option("limit"), lr_decay=lr_decay)
    split = "test" if final else "val"
    decay = f" decay={lr_decay:g}" if lr_decay else ""
    return Run(cfg, execute_stage3, label=f"{dataset} {split} lr={lr:g}{decay} seed={seed}")


def stage2_spec(ctx: Context, dataset: str, lr: float, seed: int, epochs: int) -> Run:
    """One stage-2 (per-sample SGD) run of the hand-out network on the final=False split."""
    cfg = stage2_config(dataset=dataset, final=False, sizes=(784, HIDDEN, 10), lr=lr,
                        epochs=ctx.option("epochs", epochs), seed=seed,
                        limit=ctx.option("limit"))
    return Run(cfg, execute_stage2,
                   label=f"{dataset} stage2 lr={lr:g} seed={seed}")


def seeds(ctx: Context) -> list[int]:
    return list(range(int(ctx.option("seeds", QUICK_SEEDS if ctx.quick else SEEDS))))


#: The per-epoch fields of a VU run record, in table order.
EPOCH_FIELDS = ("train_loss", "val_loss", "train_acc", "val_acc")


def by_dataset(records: list[dict]):
    """Per data set: ``(dataset, heading, aggs)``. ``heading`` is the markdown heading with the
    data description; ``aggs`` maps each of :data:`EPOCH_FIELDS` to its aggregate over the
    seeds."""
    for dataset, rs in group_by(records, lambda r: r["config"]["dataset"]).items():
        m = next((r["metrics"] for r in rs if r.get("status") == "ok"), {})
        heading = (f"\n### {dataset}\n\nData: "
                   + data_description(dataset, False, m.get("n_train"), m.get("n_val")) + ".\n")
        aggs = {f: aggregate(rs, lambda r, f=f: epoch_series(r, f)) for f in EPOCH_FIELDS}
        yield dataset, heading, aggs


def epoch_table(aggs: dict, n_epochs: int) -> str:
    """Markdown table of mean ± std per epoch for :data:`EPOCH_FIELDS` (accuracies in %)."""
    rows = [[e + 1] + [pm(aggs[f].mean[e], aggs[f].std[e], as_pct=f.endswith("acc"))
                       for f in EPOCH_FIELDS]
            for e in range(n_epochs)]
    return md_table(["epoch", "train loss", "val loss", "train acc", "val acc"], rows)


def network_text(ctx: Context) -> str:
    return (f"784-{HIDDEN} ({ACTIVATION})-10 (softmax), cross-entropy, plain SGD (no momentum), "
            f"batch size {BATCH_SIZE}, {ctx.option('epochs', EPOCHS)} epochs, float32, "
            "Xavier-normal initial weights")
