// rnnmem connectivity explorer (no libraries; the data is in #explorer-data).
//
// Data layout (built by rnnmem_utils.explorer.payload):
//   {title, norm, k, models: [name...], texts: [{text, targets: [word|null per char],
//     models: {name: {conn: [[row 0], [row 1], ...], suggest: [[[word, p|null]...]...]}}}]}
// conn[t] holds positions 0..t (the lower triangle) in thousandths of the row's
// maximum: the connectivity of output t to each earlier input.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("explorer-data").textContent);

  // Viridis at 0, 0.1, ..., 1 (matplotlib's colormap data, CC0 1.0, by Nathaniel
  // J. Smith, Stefan van der Walt and Eric Firing), linearly interpolated.
  var VIRIDIS = [
    [68, 1, 84], [72, 36, 117], [65, 68, 135], [53, 95, 141], [42, 120, 142],
    [33, 145, 140], [34, 168, 132], [68, 191, 112], [122, 209, 81],
    [189, 223, 38], [253, 231, 37]
  ];
  function viridis(x) {
    var f = Math.min(Math.max(x, 0), 1) * (VIRIDIS.length - 1);
    var i = Math.min(Math.floor(f), VIRIDIS.length - 2), w = f - i;
    var a = VIRIDIS[i], b = VIRIDIS[i + 1], c = [];
    for (var j = 0; j < 3; j++) c.push(Math.round(a[j] + w * (b[j] - a[j])));
    return "rgb(" + c.join(", ") + ")";
  }
  // The post's page uses the middle of the scale (0.29 .. 2/3) so text stays legible.
  function colour(v) { return viridis(0.29 + v * (2 / 3 - 0.29)); }

  var state = {text: 0, model: data.models[0], selected: null, locked: false};
  var textEl = document.getElementById("text");
  var panel = document.getElementById("panel");

  function buttons(id, labels, isActive, onClick) {
    var box = document.getElementById(id);
    box.querySelectorAll("button").forEach(function (b) { b.remove(); });
    labels.forEach(function (label, i) {
      var b = document.createElement("button");
      b.textContent = label;
      b.dataset.key = String(i);
      b.className = isActive(i) ? "active" : "";
      b.addEventListener("click", function () { onClick(i); });
      box.appendChild(b);
    });
    box.style.display = labels.length > 1 ? "" : "none";
  }

  function drawControls() {
    buttons("models", data.models, function (i) {
      return data.models[i] === state.model;
    }, function (i) { state.model = data.models[i]; drawControls(); select(state.selected); });
    var names = data.texts.map(function (_, i) { return "text " + (i + 1); });
    buttons("texts", names, function (i) { return i === state.text; }, function (i) {
      state.text = i; state.selected = null; state.locked = false;
      drawControls(); drawText();
    });
  }

  function drawText() {
    textEl.textContent = "";
    var chars = Array.from(data.texts[state.text].text);
    chars.forEach(function (ch, i) {
      var s = document.createElement("span");
      s.className = "ch";
      s.textContent = ch;
      s.dataset.i = String(i);
      s.addEventListener("mouseenter", function () { if (!state.locked) select(i); });
      s.addEventListener("click", function () {
        state.locked = !(state.locked && state.selected === i);
        select(i);
      });
      textEl.appendChild(s);
    });
    select(null);
  }

  function select(t) {
    state.selected = t;
    var entry = data.texts[state.text].models[state.model];
    var spans = textEl.children;
    for (var s = 0; s < spans.length; s++) {
      var el = spans[s], seen = t !== null && s <= t;
      var v = seen ? entry.conn[t][s] : null;
      el.dataset.v = seen ? String(v) : "";
      el.style.backgroundColor = seen ? colour(v / 1000) : "";
      el.className = "ch" + (seen ? " seen" : "") + (s === t ? " selected" : "");
    }
    drawPanel(t, entry);
  }

  function drawPanel(t, entry) {
    panel.textContent = "";
    var where = document.createElement("div");
    where.className = "where";
    if (t === null) {
      where.textContent = "Hover over or click a character.";
      panel.appendChild(where);
      return;
    }
    var text = data.texts[state.text], target = text.targets[t];
    where.textContent = state.model + ", position " + t + " (" +
      JSON.stringify(Array.from(text.text)[t]) + ")" +
      (target !== null ? ", target word: " + target : "") +
      (state.locked ? " [locked: click again to release]" : "");
    panel.appendChild(where);
    var table = document.createElement("table");
    table.id = "suggestions";
    entry.suggest[t].forEach(function (pair) {
      var tr = document.createElement("tr");
      if (pair[0] === target) tr.className = "hit";
      var w = document.createElement("td"), p = document.createElement("td");
      w.className = "w"; p.className = "p";
      w.textContent = pair[0];
      p.textContent = pair[1] === null ? "" : pair[1].toFixed(3);
      tr.appendChild(w); tr.appendChild(p); table.appendChild(tr);
    });
    panel.appendChild(table);
  }

  document.addEventListener("keydown", function (ev) {
    var n = textEl.children.length, t = state.selected;
    if (ev.key === "ArrowRight") select(t === null ? 0 : Math.min(t + 1, n - 1));
    else if (ev.key === "ArrowLeft") select(t === null ? 0 : Math.max(t - 1, 0));
  });

  var bar = document.querySelector(".legend .bar");
  var stops = [];
  for (var i = 0; i <= 10; i++) stops.push(colour(i / 10));
  bar.style.background = "linear-gradient(to right, " + stops.join(", ") + ")";

  drawControls();
  drawText();
  window.explorer = {data: data, state: state, select: select};
})();
