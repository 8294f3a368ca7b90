// playbook serve: renders the JSON of /s/N/api/... into the page and polls for changes.
// Every string from a study goes into the DOM as textContent (never innerHTML), so a
// trial value such as "<script>" is shown, not run. Figures come ready-made from the
// server (Plotly JSON, strings already escaped there).
"use strict";

const body = document.body;
const BASE = body.dataset.base;
const POLL_MS = 2000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "cls") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toPrecision(4);
  return String(value);
}

function section(id, title, ...children) {
  return el("section", {id: id}, el("h2", {text: title}), ...children);
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {text: h})))),
            el("tbody", {}, rows.map(r => el("tr", {}, r.map(c =>
              c instanceof Node ? el("td", {}, c) : el("td", {text: fmt(c)}))))));
}

function trialLink(id) {
  return el("a", {href: BASE + "trial/" + encodeURIComponent(id), text: id});
}

function plot(div, fig) {
  if (!fig || fig.error) {
    div.replaceChildren(el("p", {cls: "panel-error", text: fig ? fig.error : "no figure"}));
    return;
  }
  Plotly.react(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
  if (!div.dataset.clicks) {  // a click on a trial's point opens its page
    div.dataset.clicks = "1";
    div.on("plotly_click", ev => {
      const id = ev.points && ev.points[0] && ev.points[0].customdata;
      if (typeof id === "string" && /^[0-9]{4,}(-seed[0-9]+)?$/.test(id)) {
        window.location.href = BASE + "trial/" + id;
      }
    });
  }
}

function setLive(ok, text) {
  const live = document.getElementById("live");
  live.textContent = text;
  live.classList.toggle("stale", !ok);
}

async function getJSON(url) {
  const response = await fetch(url, {cache: "no-store"});
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

// -- the list of studies ------------------------------------------------------------------

async function indexPage() {
  const studies = await getJSON("/api/studies");
  document.getElementById("title").textContent = "studies";
  document.getElementById("main").replaceChildren(section("studies", "Studies",
    table(["study", "directory", "metric"], studies.map(s => [
      el("a", {href: "/s/" + s.index + "/", text: s.name}), s.path, s.metric]))));
}

// -- a study --------------------------------------------------------------------------------

const chosen = new Set();
let version = null;
let built = false;

function buildStudy(view) {
  const main = document.getElementById("main");
  main.replaceChildren(
    section("summary", "Study"),
    section("progress", "Progress per scientific value"),
    section("findings", "Findings"),
    section("figures", "Figures", el("div", {cls: "grid", id: "figure-grid"})),
    section("curves", "Training curves",
            el("p", {text: "Tick trials in the table below to draw their curves."}),
            el("div", {cls: "figure", id: "curves-figure"})),
    section("trials", "Trials", el("div", {cls: "scroll", id: "trials-table"})),
    section("comparison", "Comparison of the scientific values"),
    section("next-round", "Next round"));
  for (const id of view.default_curves) chosen.add(id);
  built = true;
}

function renderStudy(view) {
  if (!built) buildStudy(view);
  document.getElementById("title").textContent = view.name;
  document.title = view.name + ": playbook dashboard";
  const c = view.counts;
  const finished = c.done + c.infeasible + c.failed;
  document.getElementById("summary").replaceChildren(
    el("h2", {text: "Study " + view.name}),
    view.description ? el("p", {text: view.description}) : null,
    el("p", {},
       "Metric ", el("b", {text: view.metric}), " (" + view.goal + "), designer " +
       view.designer + ", budget " + view.budget + " per scientific value; scientific: " +
       view.scientific.join(", ") + "; nuisance: " + (view.nuisance.join(", ") || "none") + "."),
    el("p", {id: "counts"},
       el("b", {id: "count-finished", text: String(finished)}), " of ",
       el("span", {id: "count-total", text: String(c.total)}),
       " trials of the search finished: " + c.done + " done, " + c.infeasible + " infeasible, " +
       c.failed + " failed, " + c.running + " running, " + c.pending + " pending."),
    el("p", {id: "rerun-counts", text: c.reruns.total
      ? "Seed reruns, counted apart and never the best: " + c.reruns.total + " (" +
        c.reruns.done + " done, " + c.reruns.infeasible + " infeasible, " + c.reruns.failed +
        " failed, " + (c.reruns.running + c.reruns.pending) + " unfinished)."
      : "No seed reruns."}),
    el("p", {cls: "advice", text: "Directory " + view.root}));
  renderProgress(view);
  renderFindings(view.findings);
  renderFigures(view.figures);
  renderTrials(view);
  refreshCurves();
  document.getElementById("comparison").replaceChildren(
    el("h2", {text: "Comparison of the scientific values"}),
    el("pre", {text: view.comparison.error || view.comparison}));
  const next = document.getElementById("next-round");
  next.replaceChildren(el("h2", {text: "Next round"}));
  if (!view.next_round.length) {
    next.appendChild(el("p", {text: "No draft yet (playbook adopt writes next_baseline.py)."}));
  }
  for (const draft of view.next_round) {
    next.appendChild(el("h3", {text: draft.name}));
    next.appendChild(el("pre", {text: draft.text}));
  }
}

function renderProgress(view) {
  const rows = view.progress.map(p => {
    const running = el("span", {}, p.running_trials.map(r => el("span", {},
      trialLink(r.trial_id), " step " + fmt(r.step) + "/" + fmt(r.max_train_steps) + " ",
      el("span", {cls: "barbox"}, el("span", {cls: "bar",
        style: "width:" + Math.round(80 * (r.step || 0) / (r.max_train_steps || 1)) + "px"})),
      " ")));
    const best = p.best ? el("span", {}, fmt(p.best.objective) + " (", trialLink(p.best.trial_id),
                                  ")") : "-";
    const reruns = p.reruns.total ? p.reruns.done + "/" + p.reruns.total : "-";
    return [p.label, p.pending, running, p.done, p.infeasible, p.failed, reruns, best];
  });
  document.getElementById("progress").replaceChildren(
    el("h2", {text: "Progress per scientific value"}),
    el("p", {cls: "advice", text: "Trials of the search by status; seed reruns (done/created) " +
                                  "apart; best: the best trial of the search."}),
    table(["scientific value", "pending", "running (step)", "done", "infeasible", "failed",
           "seed reruns", "best " + view.metric], rows));
}

function renderFindings(findings) {
  const box = document.getElementById("findings");
  box.replaceChildren(el("h2", {text: "Findings"}));
  if (findings.error) { box.appendChild(el("p", {cls: "panel-error", text: findings.error})); return; }
  if (!findings.length) box.appendChild(el("p", {text: "No findings: nothing the playbook's checks flag."}));
  for (const f of findings) {
    box.appendChild(el("div", {cls: "finding " + f.severity},
      el("b", {text: f.severity}), " ", el("code", {text: f.code}), ": " + f.message,
      f.recommendation ? el("br") : null,
      f.recommendation ? el("span", {cls: "advice", text: "\u2192 " + f.recommendation}) : null));
  }
}

function renderFigures(figures) {
  const grid = document.getElementById("figure-grid");
  for (const [name, fig] of Object.entries(figures)) {
    let div = document.getElementById("figure-" + name);
    if (!div) {
      div = el("div", {cls: "figure", id: "figure-" + name, "data-figure": name});
      grid.appendChild(div);
    }
    plot(div, fig);
  }
}

function renderTrials(view) {
  const headers = ["", "trial", "scientific value", ...view.nuisance, "status", view.metric,
                   "best step", "steps", "seed rerun of"];
  const rows = view.trials.map(t => {
    const box = el("input", {type: "checkbox", "data-trial": t.trial_id});
    box.checked = chosen.has(t.trial_id);
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(t.trial_id); else chosen.delete(t.trial_id);
      refreshCurves();
    });
    const status = el("span", {cls: "status-" + t.group,
                               text: t.status + (t.reason ? ": " + t.reason : "")});
    return [box, trialLink(t.trial_id), t.label, ...view.nuisance.map(k => t.values[k]), status,
            t.objective, t.best_step, fmt(t.steps) + "/" + fmt(t.max_train_steps),
            t.repeats ? trialLink(t.repeats) : ""];
  });
  document.getElementById("trials-table").replaceChildren(table(headers, rows));
}

async function refreshCurves() {
  const ids = Array.from(chosen).join(",");
  try {
    plot(document.getElementById("curves-figure"),
         await getJSON(BASE + "api/curves?t=" + encodeURIComponent(ids)));
  } catch (e) { /* the next poll retries */ }
}

async function pollStudy() {
  try {
    const url = BASE + "api/study" + (version ? "?since=" + version : "");
    const view = await getJSON(url);
    if (!view.unchanged) { renderStudy(view); }
    version = view.version;
    setLive(true, "live, checked " + new Date().toLocaleTimeString());
  } catch (e) {
    setLive(false, "server unreachable: " + e.message);
  }
  setTimeout(pollStudy, POLL_MS);
}

// -- a trial --------------------------------------------------------------------------------

function keyValues(object) {
  if (!object) return el("p", {text: "(not written yet)"});
  return el("pre", {text: JSON.stringify(object, null, 1)});
}

async function trialPage() {
  const id = body.dataset.trial;
  try {
    const view = await getJSON(BASE + "api/trial/" + encodeURIComponent(id));
    renderTrial(view);
    setLive(true, "live, checked " + new Date().toLocaleTimeString());
  } catch (e) {
    setLive(false, "server unreachable: " + e.message);
  }
  setTimeout(trialPage, POLL_MS * 2);
}

function retrainLines(view) {
  // The config.py link as a download command, unless the report already wrote the file.
  const url = window.location.origin + BASE + "trial/" + view.trial_id + "/config.py";
  const local = view.commands.some(c => c.includes("/report/configs/"));
  return local ? view.commands
               : ["curl -so trial_" + view.trial_id + ".py " + url, ...view.commands];
}

function renderTrial(view) {
  document.getElementById("title").textContent = view.study + " / trial " + view.trial_id;
  const row = view.row || {};
  const main = document.getElementById("main");
  if (!document.getElementById("trial-curves")) {
    main.replaceChildren(
      section("trial-summary", "Trial"), section("trial-curves-box", "Curves",
        el("div", {cls: "figure", id: "trial-curves"})),
      section("trial-checkpoint", "Checkpoints and retraining"),
      section("trial-config", "Config"), section("trial-result", "Result"),
      section("trial-meta", "Trial record"), section("trial-error", "Error"));
  }
  document.getElementById("trial-summary").replaceChildren(
    el("h2", {text: "Trial " + view.trial_id}),
    el("p", {}, el("a", {href: BASE, text: "\u2190 study " + view.study})),
    table(["scientific value", "status", view.metric, "best step", "steps", "repeats"],
          [[row.label, (row.status || "") + (row.reason ? ": " + row.reason : ""), row.objective,
            row.best_step, fmt(row.steps) + "/" + fmt(row.max_train_steps), row.repeats]]),
    row.values ? table(Object.keys(row.values), [Object.values(row.values)]) : null);
  plot(document.getElementById("trial-curves"), view.curves);
  const ck = view.checkpoints;
  document.getElementById("trial-checkpoint").replaceChildren(
    el("h2", {text: "Checkpoints and retraining"}),
    el("p", {}, "Best checkpoint: ", el("code", {text: ck.best || "(none kept)"}),
       ck.best_step === null ? "" : " (step " + ck.best_step + ")"),
    el("p", {}, "Latest checkpoint: ", el("code", {text: ck.latest || "(none kept)"}),
       ck.latest_step === null ? "" : " (step " + ck.latest_step + ")"),
    el("p", {id: "checkpoints-saved"}, "Directory: ", el("code", {text: ck.directory}),
       " holds " + (ck.saved.map(c => "step " + c.step + (c.kept_as ? " (" + c.kept_as + ")" : ""))
                      .join(", ") || "nothing yet")),
    el("p", {}, el("a", {href: BASE + "trial/" + view.trial_id + "/config.py",
                         text: "trial_" + view.trial_id + ".py"}),
       " (the config for playbook train)"),
    el("pre", {id: "retrain", text: retrainLines(view).join("\n")}));
  document.getElementById("trial-config").replaceChildren(el("h2", {text: "Config"}),
                                                           keyValues(view.config));
  document.getElementById("trial-result").replaceChildren(el("h2", {text: "Result"}),
                                                           keyValues(view.result));
  document.getElementById("trial-meta").replaceChildren(el("h2", {text: "Trial record"}),
                                                         keyValues(view.trial));
  const error = document.getElementById("trial-error");
  error.replaceChildren(el("h2", {text: "Error"}), view.error ? el("pre", {text: view.error})
                                                               : el("p", {text: "none"}));
}

if (body.dataset.page === "study") pollStudy();
else if (body.dataset.page === "trial") trialPage();
else indexPage();
