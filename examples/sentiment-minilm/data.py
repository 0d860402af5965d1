"""The 200 labelled movie-review sentences of Pang & Lee's polarity data, from the gensim wheel's test data.

`make install` downloads the gensim wheel (no install, no import) into .cache/wheels;
this module reads `gensim/test/test_data/pang_lee_polarity.cor` straight from it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

WHEELS = Path(__file__).resolve().parents[2] / ".cache" / "wheels"
MEMBER = "gensim/test/test_data/pang_lee_polarity.cor"


def sentences() -> tuple[list[str], np.ndarray]:
    """(sentences, labels) with label 1 = positive; 200 of each in file order."""
    wheels = sorted(WHEELS.glob("gensim-*.whl"))
    if not wheels:
        raise FileNotFoundError(
            f"no gensim wheel in {WHEELS}; fix: `make install` (or: pip download --no-deps --only-binary=:all: gensim==4.4.0 -d {WHEELS})"
        )
    with zipfile.ZipFile(wheels[-1]) as zf:
        lines = zf.read(MEMBER).decode("latin-1").splitlines()  # the corpus predates UTF-8
    texts, labels = [], []
    for line in lines:
        tag, _, text = line.partition(" ")
        texts.append(text.strip())
        labels.append(1 if tag == "__label__pos" else 0)
    return texts, np.asarray(labels)


def split(n: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    return {"training": np.sort(order[:120]), "validation": np.sort(order[120:160]), "test": np.sort(order[160:])}
