"""The connectivity explorer: one self-contained HTML page, in the manner of
the Distill post (Madsen 2019, "Visualizing memorization in RNNs").

Hover over (or click) a character to see its connectivity to every earlier
character as colour intensity (:func:`rnnmem_utils.analysis.connectivity.
connectivity`, each row scaled to its maximum) and the model's top-k word
suggestions there; switch between models (and texts, given several). The
page loads nothing: its CSS and JavaScript (no third-party library; the
viridis colours are matplotlib's CC0 data) are inlined from this package's
``explorer.css`` / ``explorer.js`` / ``page.html``, the data is embedded as
JSON. To keep pages small each row stores only positions ``0..t`` (the lower
triangle; a model whose output depends on later input is refused) in
thousandths (3 decimals) of the row's maximum.

API::

    from rnnmem_utils import explorer
    html = explorer.page({"GRU": gru, "LSTM": lstm}, "the formal study of grammar",
                         words=id_to_word, path="out/explorer.html")
    explorer.show({"GRU": gru}, "any text you type", words=id_to_word)  # in Jupyter

- ``models``: ``{name: model}``, each anything
  :func:`rnnmem_utils.analysis.connectivity.adapt` accepts (an ``nn.Embedding``
  ``embedding`` plus ``features`` + ``decoder`` or ``logits_from_embedded``).
- ``text``: one string or a list of strings, encoded as the post does: the
  words (split on whitespace) each become a space plus their characters, so
  the page shows the text with one leading space; every character's target
  is the id of its word in ``words`` (``<unknown>`` if absent).
- ``words``: the output classes, id -> word (the post: ``<eos>``,
  ``<unknown>``, then 16,384 words). ``alphabet``: the input symbols, id ->
  character (default :data:`ALPHABET`, the post's 28).
- ``suggest``: ``None`` (the model's own top-``k`` by softmax probability,
  :func:`~rnnmem_utils.analysis.connectivity.top_k`), a callable
  ``suggest(name, model, tokens) -> [[(word, p), ...] per position]``, or
  precomputed ``{name: [[(word, p) or word, ...] per position]}`` (with a
  list of texts: ``{name: [that per text]}``).
- ``norm``: ``"squared"`` (the post's code) or ``"l2"`` (the article).

:func:`payload` builds the data, :func:`render` the page from it (so tests and
callers can check one without the other).
"""

from __future__ import annotations

import html as _html
import json
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from ..analysis import connectivity as conn
from ..io import write_text

#: The post's 28 input symbols: <eos> (id 0, padding), space, a-z.
ALPHABET = ("<eos>", " ", *"abcdefghijklmnopqrstuvwxyz")
SCALE = 1000  # stored values are thousandths of each row's maximum


def align(text: str, words: Sequence[str], alphabet: Sequence[str] = ALPHABET):
    """The post's encoding of ``text``: (shown text, input ids, target ids).

    Each whitespace-separated word becomes a space plus its characters; every
    one of those positions targets the word's id in ``words`` (``<unknown>``,
    else id 1, if the word is not there). Raises ValueError naming characters
    outside ``alphabet``."""
    ids = {c: i for i, c in enumerate(alphabet)}
    tokens = text.split()
    bad = sorted({c for w in tokens for c in w if c not in ids})
    if bad:
        raise ValueError(
            f"characters {bad} are not input symbols; the alphabet is "
            f"{''.join(a for a in alphabet if len(a) == 1)!r}"
        )
    if not tokens:
        raise ValueError("the text has no words")
    word_id = {w: i for i, w in enumerate(words)}
    unknown = word_id.get("<unknown>", 1)
    shown = "".join(" " + w for w in tokens)
    inputs = [ids[c] for c in shown]
    targets = [word_id.get(w, unknown) for w in tokens for _ in range(len(w) + 1)]
    return shown, inputs, targets


def _suggestions(suggest, name, model, tokens, words, k, which):
    if suggest is None:
        rows = conn.top_k(conn.logits(model, tokens), words, k)
    elif callable(suggest):
        rows = suggest(name, model, tokens)
    else:
        rows = suggest[name] if which is None else suggest[name][which]
    if len(rows) != len(tokens):
        raise ValueError(
            f"suggestions for {name!r}: {len(rows)} positions, the text has "
            f"{len(tokens)} (with its leading space)"
        )
    return rows


def _pair(s) -> list:
    word, p = (s, None) if isinstance(s, str) else s
    return [str(word), None if p is None else round(float(p), 3)]


def lower_triangle(c: np.ndarray, name: str = "model") -> list[list[int]]:
    """Rows ``0..t`` of a row-normalised (T, T) map, in thousandths; refuses
    a map with weight above the diagonal (a non-causal model)."""
    upper = np.triu(c, k=1)
    if upper.size and upper.max() > 1e-6:
        raise ValueError(f"{name}: output depends on later input (not causal)")
    q = np.rint(np.asarray(c, dtype=np.float64) * SCALE).astype(int)
    return [q[t, : t + 1].tolist() for t in range(len(q))]


def payload(
    models: Mapping[str, object],
    text: str | Sequence[str],
    *,
    words: Sequence[str],
    alphabet: Sequence[str] = ALPHABET,
    suggest: Callable | Mapping | None = None,
    k: int = 3,
    norm: str = "squared",
    chunk: int | None = None,
    title: str = "Connectivity explorer",
) -> dict:
    """The page's data (see the module docstring and ``explorer.js``)."""
    if not models:
        raise ValueError("give at least one model: {name: model}")
    if norm not in conn.NORMS:
        raise ValueError(f"norm {norm!r}; options are {list(conn.NORMS)}")
    texts = [text] if isinstance(text, str) else list(text)
    which = None if isinstance(text, str) else range(len(texts))
    out = []
    for i, t in enumerate(texts):
        shown, tokens, targets = align(t, words, alphabet)
        entry = {"text": shown, "targets": [words[j] for j in targets], "models": {}}
        for name, model in models.items():
            c = conn.connectivity(model, tokens, targets, norm=norm, chunk=chunk)
            rows = _suggestions(
                suggest, name, model, tokens, words, k, None if which is None else i
            )
            entry["models"][name] = model_entry(name, c, rows)
        out.append(entry)
    return page_data(title, norm, k, list(models), out)


def model_entry(name: str, c: np.ndarray, rows) -> dict:
    """One model's data for one text: its connectivity map's lower triangle
    and its suggestions per position (``[(word, p) or word, ...]``)."""
    return {
        "conn": lower_triangle(c, name),
        "suggest": [[_pair(s) for s in r] for r in rows],
    }


def page_data(title: str, norm: str, k: int, names: list, texts: list) -> dict:
    """The page's data from its texts' entries (see ``explorer.js``)."""
    label = "squared L2 norm" if norm == "squared" else "L2 norm"
    return {"title": title, "norm": label, "k": k, "models": names, "texts": texts}


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: dict) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survive unescaped."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict) -> str:
    """The self-contained page for a :func:`payload`."""
    return (
        _asset("page.html")
        .replace("/*STYLE*/", _asset("explorer.css"))
        .replace("/*SCRIPT*/", _asset("explorer.js"))
        .replace("__TITLE__", _html.escape(data["title"]))
        .replace("__NORM__", _html.escape(data["norm"]))
        .replace("__DATA__", _json_for_script(data))
    )


def page(models, text, *, path: str | Path | None = None, **kwargs) -> str:
    """Build the page (keywords as :func:`payload`); write it to ``path`` too
    (atomically) if given. Returns the HTML."""
    out = render(payload(models, text, **kwargs))
    if path is not None:
        write_text(Path(path), out)
    return out


def show(models, text, *, height: int = 420, **kwargs):
    """The page inline in Jupyter: an ``IPython.display.HTML`` holding it in
    an iframe (its script and styles stay apart from the notebook's)."""
    from IPython.display import HTML

    doc = _html.escape(page(models, text, **kwargs), quote=True)
    return HTML(
        f'<div><iframe srcdoc="{doc}" style="width: 100%; height: {int(height)}px; '
        'border: 1px solid #ddd" sandbox="allow-scripts"></iframe></div>'
    )
