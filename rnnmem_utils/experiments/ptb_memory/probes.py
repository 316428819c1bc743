"""Table 3 (appendix 9): logistic regression of POS classes from the embeddings.

Each word type of the gold-tagged analysis set gets its most frequent gold
tag (``<unk>``, ``N`` and ``<eos>`` are left out: they are not words of one
class). A problem keeps the word types whose tag is in one of its classes,
splits them 80/20 (stratified, seeded) and fits scikit-learn's
``LogisticRegression`` on the baseline's standardised embeddings; the test
accuracy carries a 95% Wilson interval over the test words.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from ...claims import wilson_interval

N_TAGS = ("NN", "NNP", "NNS", "NNPS")
V_TAGS = ("VBG", "VBD", "VBN", "VBP", "VBZ")  # Table 3's caption: VB not listed
ADJ, ADV = ("JJ", "JJR", "JJS"), ("RB", "RBR", "RBS")
# name -> (classes as tag tuples, published test accuracy %)
PROBLEMS = {
    "N-V": ((N_TAGS, V_TAGS), 77.2),
    "N-Adj": ((N_TAGS, ADJ), 81.1),
    "V-Adj": ((V_TAGS, ADJ), 80.7),
    "Adj-Adv": ((ADJ, ADV), 86.9),
    "sg-pl": ((("NN", "NNP"), ("NNS", "NNPS")), 88.2),
    "common-proper": ((("NN", "NNS"), ("NNP", "NNPS")), 82.0),
    "3rd-non-3rd": ((("VBP",), ("VBZ",)), 71.5),
    "present-past": ((("VBP", "VBZ"), ("VBD",)), 80.0),
    "VBG-VBN": ((("VBG",), ("VBN",)), 79.6),
}
SKIP = frozenset({"<unk>", "N", "<eos>"})


def word_tags(data) -> dict[int, str]:
    """Word id -> its most frequent gold tag in the analysis set."""
    seen = defaultdict(Counter)
    vocab = data["corpus"].vocab
    for i, t in zip(data["ids"], data["tags"], strict=True):
        seen[int(i)][t] += 1
    return {
        i: c.most_common(1)[0][0] for i, c in seen.items() if vocab.words[i] not in SKIP
    }


def fit_problem(emb: np.ndarray, tags: dict[int, str], classes, seed: int):
    """Test accuracy, its Wilson interval and the sizes of one problem."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    words, labels = [], []
    for i, t in tags.items():
        for k, cls in enumerate(classes):
            if t in cls:
                words.append(i)
                labels.append(k)
    y = np.array(labels)
    if len(words) < 10 or np.bincount(y).min() < 2:
        return None
    x_tr, x_te, y_tr, y_te = train_test_split(
        emb[words], y, test_size=0.2, stratify=y, random_state=seed
    )
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_tr, y_tr)
    correct = int((clf.predict(x_te) == y_te).sum())
    lo, hi = wilson_interval(correct, len(y_te))
    return correct / len(y_te), lo, hi, len(y_tr), len(y_te)


def table3(model, data, seed: int) -> pd.DataFrame:
    """Our test accuracies (%) beside Table 3's."""
    emb = model.embedding.weight.detach().double().numpy()
    tags = word_tags(data)
    rows = []
    for name, (classes, published) in PROBLEMS.items():
        got = fit_problem(emb, tags, classes, seed)
        acc, lo, hi, n_tr, n_te = got or (np.nan, np.nan, np.nan, 0, 0)
        rows.append({"problem": name, "test_ours": 100 * acc, "lo": 100 * lo,
                     "hi": 100 * hi, "test_paper": published,
                     "train_words": n_tr, "test_words": n_te})  # fmt: skip
    return pd.DataFrame(rows)
