// The live dashboard: one EventSource from the testbed, the picture (Cytoscape.js), the strip
// chart (Chart.js), the panels and the timeline. Everything shown comes from the server's
// messages; the only writes are fail/heal (through the CLI's fault board) and the page's own
// report of when it showed a change of VIP holder or VRRP state (the lag measurement).
"use strict";

const dash = window.dashboard = {
  model: null, state: {}, events: [], marks: [], board: [], spof: null,
  cy: null, chart: null, shown: {}, renderMs: [],
};
const $ = (id) => document.getElementById(id);
const WINDOW_S = 60;        // the strip chart's width
const TIMELINE_ROWS = 400;  // rows kept in the page

function clock(t) {
  const d = new Date(t * 1000);
  return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

async function post(path, body) {
  const answer = await fetch(path, {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-Testbed-Page": "1"},
  });
  return answer.json();
}

// -- the picture ---------------------------------------------------------------------------------
const STYLE = [
  {selector: "node", style: {
    "background-color": "data(colour)", "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
    "font-size": 11, "width": 58, "height": 58, "border-width": 1.5, "border-color": "#333"}},
  {selector: "node.switch", style: {"shape": "round-rectangle", "width": 54, "height": 32}},
  {selector: "edge", style: {"width": 2, "line-color": "#888", "curve-style": "bezier"}},
  {selector: ".spof", style: {
    "underlay-color": "data(spofColour)", "underlay-opacity": 0.5, "underlay-padding": 10}},
  {selector: "edge.spof", style: {"line-color": "data(spofColour)", "width": 5}},
  {selector: ".cut", style: {"underlay-color": "#6a3d9a", "underlay-opacity": 0.65, "underlay-padding": 14}},
  {selector: "edge.cut", style: {"line-color": "#6a3d9a", "width": 6}},
  {selector: "node.vip", style: {"border-width": 6, "border-color": "#e6a700"}},
  {selector: "node.degraded", style: {"border-width": 6, "border-color": "#ff9f1c"}},
  {selector: "node.down", style: {"border-width": 6, "border-color": "#d62728", "background-color": "#bdbdbd"}},
  {selector: "edge.down", style: {"line-color": "#d62728", "line-style": "dashed", "width": 3}},
  {selector: ".injected", style: {"overlay-color": "#8e24aa", "overlay-opacity": 0.18, "overlay-padding": 6}},
];

function drawGraph() {
  const elements = [];
  for (const n of dash.model.nodes) {
    elements.push({group: "nodes", classes: n.kind, position: {x: n.x, y: n.y},
                   data: {id: n.id, label: n.label, base: n.label, colour: n.colour, spofColour: "#000",
                          machine: n.machine}});
  }
  for (const e of dash.model.edges) {
    elements.push({group: "edges", data: {id: e.id, source: e.source, target: e.target, spofColour: "#000"}});
  }
  dash.cy = cytoscape({container: $("graph"), elements, style: STYLE, layout: {name: "preset"},
                       minZoom: 0.05, maxZoom: 3, autoungrabify: true, boxSelectionEnabled: false});
  dash.cy.fit(undefined, 24);
  dash.cy.on("tap", "node, edge", (evt) => openMenu(evt.target, evt.renderedPosition));
  dash.cy.on("tap", (evt) => { if (evt.target === dash.cy) closeMenu(); });
  window.addEventListener("resize", () => dash.cy.fit(undefined, 24));
}

function component(address) {
  // The drawn element a fault or SPOF address belongs to (a host's daemon: its host).
  const [kind, rest] = [address.split(":")[0], address.split(":").slice(1).join(":")];
  if (kind === "link") return dash.cy.getElementById(address);
  if (kind === "node") return dash.cy.getElementById(rest);
  if (kind === "daemon" || kind === "processes") return dash.cy.getElementById(rest.split("@").pop());
  if (kind === "machine") return dash.cy.nodes().filter((n) => n.data("machine") === rest);
  return dash.cy.collection();
}

function paintGraph() {
  const s = dash.state, cy = dash.cy;
  const links = s.links || {}, daemons = s.daemons || {}, vip = s.vip || [], vrrp = s.vrrp || {};
  const switches = s.switches || {};
  cy.batch(() => {
    cy.edges().forEach((edge) => edge.toggleClass("down", links[edge.id()] === false));
    cy.nodes().forEach((node) => {
      const id = node.id(), edges = node.connectedEdges();
      const cut = edges.length > 0 && edges.every((e) => links[e.id()] === false);
      const own = daemons[id] ? Object.values(daemons[id]) : [];
      const dead = own.filter((running) => !running).length;
      const down = cut || switches[id] === false || (own.length > 0 && dead === own.length);
      node.toggleClass("down", down);
      node.toggleClass("degraded", !down && dead > 0);
      node.toggleClass("vip", vip.includes(id));
      let label = node.data("base");
      const keepalived = (daemons[id] || {}).keepalived;  // a dead keepalived's last word is stale
      if (vrrp[id] && keepalived !== false) label += "\n" + vrrp[id];
      if (vip.includes(id)) label += "\n★ VIP";
      node.data("label", label);
    });
    cy.elements().removeClass("injected");
    for (const address of dash.board) component(address).addClass("injected");
  });
}

// -- the fault menu ------------------------------------------------------------------------------
function faultsOf(target) {
  const list = target.isNode() ? dash.model.nodes : dash.model.edges;
  const found = list.find((item) => item.id === target.id());
  return found ? found.faults : [];
}

function faultButton(fault, where) {
  const injected = dash.board.includes(fault.address);
  const verb = injected ? "heal" : "fail";
  const button = el("button", {class: verb, type: "button", "data-address": fault.address, title: fault.description},
                    `${verb} ${fault.address}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = `${verb === "fail" ? "injecting" : "healing"} ${fault.address}…`;
    const answer = await post(`/api/${verb}`, {address: fault.address});
    if (!answer.ok) where.append(el("p", {class: "bad"}, `${verb} ${fault.address}: ${answer.error}`));
    else closeMenu();
  });
  return el("li", {}, button, el("p", {}, fault.description));
}

function openMenu(target, position) {
  const menu = $("menu"), box = $("graph").getBoundingClientRect();
  const overlay = dash.spof && $("spof-toggle").checked ? spofWhy(target) : "";
  const list = el("ul");
  menu.replaceChildren(el("h3", {}, target.id()), overlay ? el("p", {class: "warn"}, overlay) : null, list);
  for (const fault of faultsOf(target)) list.append(faultButton(fault, menu));
  if (!list.children.length) list.append(el("li", {}, "no fault address for this component"));
  menu.style.left = `${window.scrollX + box.left + Math.min(position.x + 12, box.width - 300)}px`;
  menu.style.top = `${window.scrollY + box.top + position.y + 12}px`;
  menu.hidden = false;
  menu.dataset.component = target.id();
}

function closeMenu() { $("menu").hidden = true; }

// -- panels --------------------------------------------------------------------------------------
function cell(text, cls) { return el("td", cls ? {class: cls} : {}, text); }

function statusClass(text) {
  if (/^UP|MASTER|Synced|primary|running/.test(text)) return "good";
  if (/DOWN|FAULT|not|NOT|error|stopped/.test(text)) return "bad";
  return "warn";
}

function renderPanels(keys) {
  const s = dash.state, m = dash.model;
  const vip = s.vip || [];
  if (keys.has("vip") || keys.has("vrrp") || keys.has("daemons")) {
    const holder = vip.length ? vip.join(", ") : "nobody";
    $("vip-holder").textContent = holder;
    $("vip-holder").className = vip.length === 1 ? "good" : "bad";
    $("vrrp").replaceChildren(...m.lbs.map((lb) => {
      const state = (s.vrrp || {})[lb] || "?";
      // A dead keepalived writes no last notify: its state is only what it said before dying.
      const dead = ((s.daemons || {})[lb] || {}).keepalived === false;
      return el("tr", {id: `vrrp-${lb}`}, cell(lb),
                dead ? cell(`keepalived not running (it last said ${state})`, "bad") : cell(state, statusClass(state)),
                cell(vip.includes(lb) ? "has the VIP" : ""));
    }));
    reportShown("vip", holder);
    for (const lb of m.lbs) reportShown(`vrrp:${lb}`, (s.vrrp || {})[lb] || "?");
  }
  if (keys.has("haproxy")) {
    const views = s.haproxy || {};
    const head = el("tr", {}, el("th", {}, "server"), ...m.lbs.map((lb) => el("th", {}, `${lb} sees`)));
    const rows = m.servers.map((server) => el("tr", {}, cell(server + (m.backups.includes(server) ? " (backup)" : "")),
      ...m.lbs.map((lb) => {
        const view = views[lb];
        if (!view) return cell("not answering", "bad");
        const row = view[server];
        return row ? cell(`${row.status}  w=${row.weight}`, statusClass(row.status)) : cell("–");
      })));
    $("haproxy").replaceChildren(head, ...rows);
  }
  if (keys.has("databases")) {
    $("db-title").textContent = m.db_mode === "galera" ? "Galera cluster" : `Replication (${m.db_mode || "none"})`;
    $("databases").replaceChildren(...Object.entries(s.databases || {}).map(([host, text]) =>
      el("tr", {}, cell(host), cell(text, statusClass(text)))));
  }
  if (keys.has("controllers")) {
    $("controllers").replaceChildren(...Object.entries(s.controllers || {}).map(([name, role]) =>
      el("tr", {id: `controller-${name}`}, cell(name),
         role ? cell(`${role.role} (generation ${role.generation})`, statusClass(role.role)) : cell("not answering", "bad"))));
  }
  if (keys.has("alerts")) {
    const alerts = s.alerts || [];
    $("alerts").replaceChildren(...(alerts.length ? alerts.map((a) =>
      el("li", {class: "bad"}, `${a.alertname} ${a.instance} (since ${clock(a.since)})`)) : [el("li", {}, "none")]));
  }
  const problems = [s.fast_error, s.slow_error].filter(Boolean);
  $("problems").hidden = !problems.length;
  $("problems").textContent = problems.length ? `the dashboard could not read the testbed: ${problems.join("; ")}` : "";
}

function reportShown(what, value) {
  // Once the browser has painted a new value, tell the server when (logs/dashboard-shown.jsonl).
  if (dash.shown[what] === value) return;
  dash.shown[what] = value;
  requestAnimationFrame(() => setTimeout(() => post("/api/shown", {what, value, t: Date.now() / 1000}), 0));
}

function renderBoard() {
  const list = $("injected");
  list.replaceChildren(...(dash.board.length ? dash.board.map((address) =>
    el("li", {}, el("button", {class: "heal", type: "button", "data-address": address,
                                onclick: () => post("/api/heal", {address})}, `heal ${address}`)))
    : [el("li", {}, "none")]));
  paintGraph();
}

// -- the timeline --------------------------------------------------------------------------------
function addEvents(events) {
  const list = $("timeline");
  for (const e of events) {
    dash.events.push(e);
    list.prepend(el("li", {"data-kind": e.kind}, el("time", {}, clock(e.t)),
                    el("span", {class: `kind kind-${e.kind}`}, e.kind), e.text));
  }
  while (list.children.length > TIMELINE_ROWS) list.lastChild.remove();
  if (dash.events.length > 5 * TIMELINE_ROWS) dash.events.splice(0, dash.events.length - TIMELINE_ROWS);
}

// -- the strip chart -----------------------------------------------------------------------------
let chartQueued = false;

function setupChart() {
  const rows = ["no answer", ...dash.model.servers];
  dash.chart = new Chart($("strip"), {
    type: "scatter",
    data: {datasets: [
      {label: "answered (row: the server)", data: [], backgroundColor: "#2ca02c", pointRadius: 3},
      {label: "failed", data: [], backgroundColor: "#d62728", pointRadius: 4},
    ]},
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      scales: {
        x: {type: "linear", ticks: {callback: (v) => clock(v).slice(0, 8), maxTicksLimit: 7}},
        y: {type: "linear", min: -0.5, max: rows.length - 0.5, reverse: true,
            // One tick per row (the server that answered; "no answer" on top), not Chart.js's own.
            afterBuildTicks: (axis) => { axis.ticks = rows.map((_, i) => ({value: i})); },
            ticks: {autoSkip: true, callback: (v) => rows[v] ?? ""}},
      },
      plugins: {tooltip: {enabled: false}},
    },
  });
  setInterval(queueChart, 500);  // scroll even when no request lands
}

function queueChart() {
  if (chartQueued) return;
  chartQueued = true;
  setTimeout(() => { chartQueued = false; drawChart(); }, 200);
}

function drawChart() {
  const now = Date.now() / 1000, from = now - WINDOW_S, index = {};
  dash.model.servers.forEach((server, i) => { index[server] = i + 1; });
  const ok = [], failed = [];
  for (const mark of dash.marks) {
    if (mark.t < from) continue;
    if (mark.server) ok.push({x: mark.t, y: index[mark.server] ?? 0});
    else failed.push({x: mark.t, y: 0});
  }
  dash.chart.data.datasets[0].data = ok;
  dash.chart.data.datasets[1].data = failed;
  dash.chart.options.scales.x.min = from;
  dash.chart.options.scales.x.max = now;
  dash.chart.update("none");
  const recent = dash.marks.filter((mark) => mark.t >= now - 10);
  const bad = recent.filter((mark) => !mark.server).length;
  const last = [...dash.marks].reverse().find((mark) => mark.server);
  $("strip-summary").textContent = dash.marks.length
    ? `from ${dash.model.probe_client}: last 10 s ${recent.length - bad} answered, ${bad} failed; last answer from ${last ? last.server : "nobody"}`
    : `from ${dash.model.probe_client}: ${dash.probeError || "starting the probe…"}`;
}

// -- the SPOF overlay ----------------------------------------------------------------------------
async function loadSpof() {
  const answer = await fetch("/api/spof");
  if (answer.status === 404) {
    $("spof-note").textContent = "· SPOF analysis running…";
    setTimeout(loadSpof, 1000);
    return;
  }
  dash.spof = await answer.json();
  $("spof-note").textContent = "";
  const select = $("cut-set");
  dash.spof.cut_sets.forEach((cut, i) => select.append(
    el("option", {value: String(i)}, `${cut.service}: ${cut.components.join(" + ")}`)));
  select.disabled = !dash.spof.cut_sets.length;
  if ($("spof-toggle").checked) paintSpof();
}

function spofWhy(target) {
  const entries = Object.entries(dash.spof.components).filter(([address]) => component(address).contains(target));
  return entries.map(([address, style]) => `${address}: ${style.why}`).join("; ");
}

function paintSpof() {
  const cy = dash.cy, on = $("spof-toggle").checked && dash.spof;
  cy.elements().removeClass("spof cut");
  const apart = [];
  if (on) {
    for (const [address, style] of Object.entries(dash.spof.components)) {
      const target = component(address);
      if (target.length && (address.startsWith("node:") || address.startsWith("link:"))) {
        target.data("spofColour", style.colour).addClass("spof");
      } else apart.push(`${address} (${style.why})`);
    }
    const chosen = dash.spof.cut_sets[Number($("cut-set").value)];
    if ($("cut-set").value !== "" && chosen) for (const address of chosen.components) component(address).addClass("cut");
  }
  $("spof-note").textContent = on ? `· also SPOF: ${apart.join("; ") || "nothing else"}` : "";
}

// -- the labs' self-check ------------------------------------------------------------------------
async function showLab() {
  const answer = await fetch(`/api/lab/${$("lab-select").value}`);
  renderLab(await answer.json());
}

function renderLab(view) {
  if (view.error) {
    $("lab-verdicts").prepend(el("li", {class: "bad"}, view.error));
    return;
  }
  const record = (step, kind) => {
    const input = el("input", {type: "text", "data-step": step.key, "data-kind": kind, placeholder: kind});
    const button = el("button", {type: "button", "data-step": step.key, "data-kind": kind}, kind === "predict" ? "predict" : "answer");
    button.addEventListener("click", async () => {
      renderLab(await post(`/api/lab/${view.lab}`, {key: step.key, kind, value: input.value}));
    });
    return el("td", {}, input, button);
  };
  $("lab-steps").replaceChildren(...view.steps.map((step) => el("tr", {id: `lab-step-${step.key}`},
    el("td", {title: `read it: ${step.how}`}, step.ask),
    step.predict ? record(step, "predict") : el("td", {}, "–"), record(step, "answer"))));
  $("lab-verdicts").replaceChildren(...view.verdicts.map((v) => el("li", {class: `state-${v.state.replace(" ", "-")}`,
    "data-step": v.key}, `[${v.state}] ${v.key}: ${v.text}`, v.prediction ? el("br") : null, v.prediction || null)));
}

// -- the stream ----------------------------------------------------------------------------------
function connect() {
  const source = new EventSource("/events");
  source.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    dash.state = hello.state;
    dash.board = hello.board;
    dash.marks = hello.marks;
    dash.probeError = hello.probe_error;
    dash.events = [];
    $("timeline").replaceChildren();
    addEvents(hello.events);
    renderPanels(new Set(Object.keys(dash.state)));
    renderBoard();
    queueChart();
    $("connection").textContent = "live";
    $("connection").className = "ok";
  });
  source.addEventListener("state", (e) => {
    const began = performance.now();
    const changed = JSON.parse(e.data);
    Object.assign(dash.state, changed);
    renderPanels(new Set(Object.keys(changed)));
    paintGraph();
    // How long each update keeps the page busy (scripts/bench_dashboard.py reads the last ones).
    dash.renderMs.push(performance.now() - began);
    if (dash.renderMs.length > 500) dash.renderMs.shift();
  });
  source.addEventListener("events", (e) => addEvents(JSON.parse(e.data)));
  source.addEventListener("marks", (e) => {
    dash.marks.push(...JSON.parse(e.data));
    const from = Date.now() / 1000 - WINDOW_S - 15;
    if (dash.marks.length && dash.marks[0].t < from) dash.marks = dash.marks.filter((mark) => mark.t >= from);
    queueChart();
  });
  source.addEventListener("board", (e) => {
    dash.board = JSON.parse(e.data);
    renderBoard();
    setTimeout(showLab, 1500);  // the self-check's "to do" may be done now (after the failover settles)
  });
  source.onerror = () => {  // EventSource reconnects by itself; say so meanwhile
    $("connection").textContent = "disconnected (the testbed stopped?)";
    $("connection").className = "bad";
  };
}

async function start() {
  dash.model = await (await fetch("/api/model")).json();
  $("topology").textContent = `· ${dash.model.topology}`;
  $("vip-address").textContent = dash.model.vip;
  for (const link of dash.model.monitoring) {
    $("monitoring").append(el("a", {href: link.url, target: "_blank", rel: "noopener"}, link.title));
  }
  const other = $("other-faults");
  for (const fault of dash.model.other_faults) other.append(faultButton(fault, other));
  $("heal-all").addEventListener("click", () => dash.board.forEach((address) => post("/api/heal", {address})));
  for (const [n, title] of Object.entries(dash.model.labs)) $("lab-select").append(el("option", {value: n}, `lab ${n}: ${title}`));
  $("lab-select").addEventListener("change", showLab);
  $("lab-check").addEventListener("click", showLab);
  showLab();
  $("spof-toggle").addEventListener("change", paintSpof);
  $("cut-set").addEventListener("change", paintSpof);
  drawGraph();
  setupChart();
  connect();
  loadSpof();
}

start();
