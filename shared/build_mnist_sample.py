"""Build the MNIST sample shipped in ``shared/data_files/mnist-sample/`` from real MNIST digits.

    python -m shared.build_mnist_sample                     # source: ../shared/data/mnist
    python -m shared.build_mnist_sample --source DIR --out DIR

Reads the official ``t10k-images-idx3-ubyte.gz`` / ``t10k-labels-idx1-ubyte.gz`` (10,000 digits;
their uncompressed content is checked against the official MD5s), draws 7,000 distinct digits with
``np.random.default_rng(SEED).permutation``, and writes the first 6,000 as the sample's "train"
part and the next 1,000 as its "test" part, as gzip IDX files (deterministic: same bytes on every
run with the same zlib) plus a README with the provenance. :func:`shared.data.load_mnist_sample`
reads them. MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges, CC BY-SA 3.0.
Leaves out: stratifying by class (the draw is uniform; the class counts are printed and recorded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from shared.download import content_md5
from shared.idx import read_idx_pair, write_idx

SEED = 20_240_601
NUM_TRAIN, NUM_TEST = 6_000, 1_000
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
DEFAULT_OUT = Path(__file__).resolve().parent / "data_files" / "mnist-sample"
OFFICIAL = {"t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}


def find_source(folder: Path, name: str) -> Path:
    for p in (folder / (name + ".gz"), folder / name):
        if p.is_file():
            return p
    raise FileNotFoundError(f"{folder}: no {name}[.gz] (the official MNIST test split)")


def choose(n_source: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the 10,000 test digits: ``(train (6000,), test (1000,))``, disjoint."""
    perm = np.random.default_rng(seed).permutation(n_source)
    return perm[:NUM_TRAIN], perm[NUM_TRAIN:NUM_TRAIN + NUM_TEST]


def build(source: Path, out: Path, seed: int = SEED) -> dict:
    """Write the sample's four IDX files and README into ``out``; returns a summary."""
    paths = {name: find_source(source, name) for name in OFFICIAL}
    for name, p in paths.items():
        got = content_md5(p)
        if got != OFFICIAL[name]:
            raise ValueError(f"{p}: uncompressed MD5 {got}, expected the official "
                             f"{OFFICIAL[name]}: not the real MNIST test split")
    images, labels = read_idx_pair(paths["t10k-images-idx3-ubyte"],
                                   paths["t10k-labels-idx1-ubyte"])
    tr, te = choose(len(images), seed)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        write_idx(out / "train-images-idx3-ubyte.gz", images[tr]),
        write_idx(out / "train-labels-idx1-ubyte.gz", labels[tr]),
        write_idx(out / "t10k-images-idx3-ubyte.gz", images[te]),
        write_idx(out / "t10k-labels-idx1-ubyte.gz", labels[te]),
    ]
    counts_tr = np.bincount(labels[tr], minlength=10).tolist()
    counts_te = np.bincount(labels[te], minlength=10).tolist()
    total = sum(p.stat().st_size for p in written)
    (out / "README.md").write_text(f"""\
# mnist-sample: 7,000 real MNIST digits (a sample, not full MNIST)

Built by `python -m shared.build_mnist_sample` from the official MNIST test split
(`t10k-images-idx3-ubyte`, uncompressed MD5 {OFFICIAL["t10k-images-idx3-ubyte"]};
`t10k-labels-idx1-ubyte`, uncompressed MD5 {OFFICIAL["t10k-labels-idx1-ubyte"]}):
`np.random.default_rng({seed}).permutation(10000)`, the first {NUM_TRAIN:,} indices are the
"train" part (`train-*`), the next {NUM_TEST:,} the "test" part (`t10k-*`). IDX format, gzip.

- train digits per class 0-9: {counts_tr}
- test digits per class 0-9: {counts_te}

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(http://yann.lecun.com/exdb/mnist/), licensed CC BY-SA 3.0
(https://creativecommons.org/licenses/by-sa/3.0/); this sample is a subset under the same licence.
""")
    return {"files": [str(p) for p in written], "bytes": total,
            "train_counts": counts_tr, "test_counts": counts_te}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared.build_mnist_sample",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                    help="folder with the MNIST t10k-*-ubyte[.gz] files "
                         f"(default {DEFAULT_SOURCE})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=SEED, help=f"draw seed (default {SEED})")
    args = ap.parse_args(argv)
    try:
        summary = build(args.source, args.out, args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(summary['files'])} files to {args.out} ({summary['bytes']:,} bytes)")
    print(f"train per class: {summary['train_counts']}")
    print(f"test per class:  {summary['test_counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
