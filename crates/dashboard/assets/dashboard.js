// nas dashboard: live experiment view and trial curves. Plain JS, no build step, no network
// beyond this server. Charts are SVG drawn from the JSON API.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v) && Math.abs(v) >= 1000) return v.toLocaleString("en");
  return digits === undefined ? String(v) : v.toFixed(digits);
}

// Draw series on an SVG chart. series: [{cls, kind: "dots"|"line"|"step", points: [[x, y, extraCls]]}].
function chart(svg, series, opts) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const m = { l: 52, r: 12, t: 10, b: 26 };
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    el("text", { x: m.l, y: H / 2 }, svg).textContent = opts.empty || "no data yet";
    return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (opts.y0 !== undefined) y0 = Math.min(y0, opts.y0);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  el("line", { class: "axis", x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b }, svg);
  el("line", { class: "axis", x1: m.l, y1: m.t, x2: m.l, y2: H - m.b }, svg);
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    el("text", { x: 4, y: sy(y) + 4 }, svg).textContent = fmt(y, opts.yDigits === undefined ? 3 : opts.yDigits);
  }
  el("text", { x: m.l, y: H - 6 }, svg).textContent = fmt(x0);
  el("text", { x: W - m.r - 40, y: H - 6 }, svg).textContent = fmt(x1);
  el("text", { x: W / 2 - 30, y: H - 6 }, svg).textContent = opts.xLabel || "";
  for (const s of series) {
    if (s.kind === "dots") {
      for (const p of s.points) el("circle", { class: ("pt " + (p[2] || "")).trim(), cx: sx(p[0]), cy: sy(p[1]), r: 3 }, svg);
    } else if (s.points.length) {
      let d = "";
      s.points.forEach((p, i) => {
        if (i === 0) d += `M${sx(p[0])} ${sy(p[1])}`;
        else if (s.kind === "step") d += ` H${sx(p[0])} V${sy(p[1])}`;
        else d += ` L${sx(p[0])} ${sy(p[1])}`;
      });
      if (s.kind === "step") d += ` H${sx(x1)}`;
      el("path", { class: s.cls, d }, svg);
    }
  }
}

// ---- experiment page -------------------------------------------------------------------------

function liveExperiment(root) {
  const id = root.dataset.experiment;
  const trials = new Map(); // seq -> trial summary
  let updates = [];
  let sortKey = "reward", ascending = false;

  function cursor() {
    let open = Infinity, max = -1;
    for (const t of trials.values()) {
      max = Math.max(max, t.seq);
      if (t.status === "running" || t.status === "aborted") open = Math.min(open, t.seq);
    }
    return open === Infinity ? max + 1 : open;
  }

  function render(exp) {
    for (const [k, v] of Object.entries(exp.counts)) {
      const b = root.querySelector(`[data-count="${k}"]`);
      if (b) b.textContent = v;
    }
    document.getElementById("status").textContent = exp.status;
    document.getElementById("best").textContent = fmt(exp.best_reward, 4);
    const sorted = [...trials.values()].sort((a, b) => a.seq - b.seq);
    const done = sorted.filter((t) => t.status === "completed" || t.status === "failed");
    const dots = done.map((t) => [t.seq, t.reward === null ? 0 : t.reward, t.status === "failed" ? "failed" : ""]);
    let best = -Infinity;
    const bestPts = [];
    for (const t of done) {
      if (t.status === "completed" && t.reward !== null && t.reward > best) { best = t.reward; bestPts.push([t.seq, best]); }
    }
    const base = updates.filter((u) => u.baseline !== null).map((u) => [u.samples - 1, u.baseline]);
    chart(document.getElementById("reward-chart"), [
      { kind: "dots", points: dots },
      { kind: "line", cls: "baseline", points: base },
      { kind: "step", cls: "best", points: bestPts },
    ], { xLabel: "sample", empty: "waiting for the first trial to finish…" });
    const depths = sorted.some((t) => t.depth > 0) ? sorted.map((t) => [t.seq, t.depth]) : [];
    chart(document.getElementById("depth-chart"), [
      { kind: "step", cls: "depth", points: depths },
    ], { xLabel: "sample", yDigits: 0, y0: 0, empty: "no depth schedule: this space searches a fixed-size cell" });
    renderTop(done.filter((t) => t.status === "completed"));
  }

  function renderTop(rows) {
    const key = sortKey;
    rows.sort((a, b) => {
      const va = a[key], vb = b[key];
      if (va === null || va === undefined) return 1;
      if (vb === null || vb === undefined) return -1;
      const c = typeof va === "string" ? va.localeCompare(vb) : va - vb;
      return ascending ? c : -c;
    });
    const tbody = document.querySelector("#top tbody");
    tbody.textContent = "";
    for (const t of rows.slice(0, 20)) {
      const tr = document.createElement("tr");
      const cells = [
        [t.seq, null], [fmt(t.reward, 4)], [fmt(t.val, t.val_accuracy != null ? 4 : 2)], [fmt(t.params)], [fmt(t.flops)],
        [fmt(t.eval_seconds, 1)], [t.arch, "arch"],
      ];
      cells.forEach(([text, cls], i) => {
        const td = document.createElement("td");
        if (cls) td.className = cls;
        if (i === 0) {
          const a = document.createElement("a");
          a.href = `/trials/${t.id}`;
          a.textContent = text;
          td.appendChild(a);
        } else td.textContent = text;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    }
    for (const th of document.querySelectorAll("#top th[data-key]")) {
      th.classList.toggle("sorted", th.dataset.key === sortKey);
      th.classList.toggle("asc", th.dataset.key === sortKey && ascending);
    }
  }

  for (const th of document.querySelectorAll("#top th[data-key]")) {
    th.addEventListener("click", () => {
      if (sortKey === th.dataset.key) ascending = !ascending;
      else { sortKey = th.dataset.key; ascending = ["params", "flops", "eval_seconds", "seq", "arch"].includes(sortKey) || (sortKey === "val" && [...trials.values()].some((t) => t.val_perplexity != null)); }
      poll(false);
    });
  }

  let last = null;
  async function poll(fetchNew) {
    if (fetchNew !== false) {
      try {
        const r = await fetch(`/api/experiments/${id}?after=${cursor()}`);
        if (r.ok) {
          const v = await r.json();
          for (const t of v.trials) {
            t.val = t.val_accuracy ?? t.val_perplexity ?? null;
            trials.set(t.seq, t);
          }
          updates = v.updates;
          last = v.experiment;
        }
      } catch (e) { /* server restarting: try again on the next tick */ }
    }
    if (last) render(last);
  }
  poll();
  setInterval(poll, POLL_MS);
}

// ---- trial page ------------------------------------------------------------------------------

function trialCurves() {
  const block = document.getElementById("epochs");
  if (block) {
    const epochs = JSON.parse(block.textContent);
    const ppl = epochs.length > 0 && epochs[0].val_perplexity !== undefined;
    chart(document.getElementById("accuracy-chart"), [
      { kind: "line", cls: "val", points: epochs.map((e) => [e.epoch, ppl ? e.val_perplexity : e.val_accuracy]) },
    ], { xLabel: ppl ? "epoch · validation perplexity" : "epoch · validation accuracy", yDigits: ppl ? 1 : 3 });
    chart(document.getElementById("loss-chart"), [
      { kind: "line", cls: "loss", points: epochs.map((e) => [e.epoch, e.train_loss]) },
    ], { xLabel: "epoch · training loss" });
  }
  const status = document.getElementById("trial-status");
  if (status && status.dataset.status === "running") {
    const id = location.pathname.split("/")[2];
    setInterval(async () => {
      try {
        const r = await fetch(`/api/trials/${id}`);
        if (r.ok && (await r.json()).status !== "running") location.reload();
      } catch (e) { /* try again */ }
    }, 2000);
  }
}

const live = document.getElementById("live");
if (live) liveExperiment(live);
trialCurves();
