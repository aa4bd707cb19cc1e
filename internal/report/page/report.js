// The report page: reads the report from #report-data and draws it. It
// loads nothing: everything it needs is in this file and the page.
(function () {
  "use strict";

  var state = { ready: false, errors: [], renderMs: 0, pageMs: 0 };
  window.clstrReport = state;
  window.addEventListener("error", function (e) {
    state.errors.push(String(e.message || e));
    showError(String(e.message || e));
  });

  var started = performance.now();
  var R = JSON.parse(document.getElementById("report-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var NODE_COLORS = ["#0e7490", "#a21caf", "#1d4ed8", "#15803d", "#b45309", "#0891b2", "#c026d3", "#4338ca"];
  var OUTCOME_COLORS = { ok: "#16a34a", fail: "#dc2626", unknown: "#9ca3af" };
  var STATE_COLORS = { up: "#bbf7d0", stopped: "#fecaca", killed: "#f87171", unpowered: "#7f1d1d", paused: "#fde68a" };
  var FAULT_COLORS = { stopped: "#ef4444", killed: "#b91c1c", unpowered: "#450a0a", paused: "#d97706", partitioned: "#7c3aed", cut: "#db2777", impaired: "#0284c7" };
  var SIDE_COLORS = ["#7c3aed", "#db2777", "#0d9488", "#ea580c"];

  // ---- small helpers

  function el(tag, attrs) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === "text") e.textContent = v;
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    });
  }
  function append(e, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(e, x); }); return; }
    e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  function tip(e, text) { e.appendChild(svg("title", { text: text })); return e; }

  function fmtTime(ms) {
    if (ms === undefined || ms === null) return "";
    return (ms / 1000).toFixed(3) + "s";
  }
  function fmtDur(ms) {
    if (ms < 1) return ms.toFixed(2) + "ms";
    if (ms < 1000) return Math.round(ms) + "ms";
    return (ms / 1000).toFixed(2) + "s";
  }
  function nodeColor(name) {
    var m = /^n(\d+)$/.exec(name || "");
    return m ? NODE_COLORS[(Number(m[1]) - 1) % NODE_COLORS.length] : "#374151";
  }
  function showError(msg) {
    var box = document.getElementById("script-error");
    if (!box) {
      box = el("div", { id: "script-error", class: "script-error" });
      document.body.insertBefore(box, document.body.firstChild);
    }
    box.textContent = "The report page hit an error: " + msg;
  }
  function percentile(sorted, p) {
    if (!sorted.length) return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  // ---- the header

  function renderHead() {
    var run = R.run || {};
    var head = document.getElementById("head");
    head.innerHTML = "";
    append(head, [
      el("h1", null, "clstr report ", badge(run.verdict, "verdict")),
      el("dl", { class: "facts" },
        fact("command", run.command), fact("target", run.target), fact("seed", run.seed),
        fact("started", run.started ? new Date(run.started).toLocaleString() : ""),
        fact("took", fmtDur(run.duration_ms || 0)), run.verdict ? fact("exit status", String(run.exit_status)) : null),
    ]);
  }
  // badge shows a verdict; a page of logs alone has none.
  function badge(verdict, id) {
    if (!verdict) return null;
    return el("span", { class: "verdict verdict-" + verdict, id: id, text: verdict.toUpperCase() });
  }
  function fact(k, v) {
    if (!v) return null;
    return el("div", null, el("dt", { text: k }), el("dd", { text: v }));
  }

  // ---- a stage

  function renderStages() {
    var main = document.getElementById("main");
    main.innerHTML = "";
    var stages = R.stages || [];
    if (!stages.length) { append(main, el("p", { text: "No stage ran." })); return; }
    var pick = stages.length - 1;
    for (var i = 0; i < stages.length; i++) if (stages[i].verdict !== "pass") { pick = i; break; }
    var holder = el("div", { id: "stage" });
    if (stages.length > 1) {
      var sel = el("select", { id: "stage-select", onchange: function () { renderStage(holder, stages[sel.value]); } });
      stages.forEach(function (s, i) {
        append(sel, el("option", { value: String(i), selected: i === pick, text: s.name + (s.verdict ? " — " + s.verdict : "") }));
      });
      append(main, el("label", { class: "stage-pick" }, "Stage ", sel));
    }
    append(main, holder);
    renderStage(holder, stages[pick]);
  }

  function renderStage(holder, st) {
    holder.innerHTML = "";
    var end = st.duration_ms || 0;
    st.tests.forEach(function (t) { if (t.start_ms !== undefined) end = Math.max(end, t.start_ms + t.duration_ms); });
    var ops = (st.history && st.history.ops) || [];
    ops.forEach(function (o) { end = Math.max(end, o.complete_ms); });
    var timeline = makeTimeline(st, ops, Math.max(end, 1));
    append(holder, [
      el("h2", null, st.name, " ", badge(st.verdict)),
      st.stopped ? el("p", { class: "stopped", text: "Stopped: " + st.stopped }) : null,
      renderTests(st, timeline),
      timeline.element,
      renderFailures(st),
      el("section", { id: "logs" }, el("h3", { text: "Logs" }),
        el("p", { class: "note", text: "Every node's output and clstr's events, interleaved in time. Tick nodes to filter." }),
        logView(st.logs, st, null), cutNote(st)),
    ]);
    timeline.draw();
  }

  function renderTests(st, timeline) {
    if (!st.tests.length) return null;
    var rows = st.tests.map(function (t, i) {
      var icon = { passed: "✓", failed: "✗", skipped: "–", "not run": "·" }[t.status] || "?";
      return el("tr", { class: "test test-" + t.status.replace(" ", "-"), "data-test": String(i),
        onclick: function () { if (t.start_ms !== undefined) timeline.zoom(t.start_ms - 200, t.start_ms + t.duration_ms + 200); } },
        el("td", { class: "icon", text: icon }), el("td", { text: t.name }),
        el("td", { class: "num", text: t.start_ms !== undefined ? fmtDur(t.duration_ms) : "" }),
        el("td", { class: "msg", text: t.failure ? t.failure.message : "" }));
    });
    return el("section", { id: "tests" }, el("h3", { text: "Tests" }),
      el("table", { class: "tests" }, el("tbody", null, rows)));
  }

  // ---- the timeline

  function makeTimeline(st, ops, end) {
    var LABEL = 110, ROW = 22, AXIS = 22;
    // The whole run starts where something first happened on the cluster,
    // not with the image build before it.
    // A cluster-wide event (the network it made) may come well before.
    var first = end;
    st.events.forEach(function (e) { if (e.node) first = Math.min(first, e.t); });
    st.tests.forEach(function (t) { if (t.start_ms !== undefined) first = Math.min(first, t.start_ms); });
    ops.forEach(function (o) { first = Math.min(first, o.invoke_ms); });
    for (var i = 0; i < st.logs.length; i++) {
      if (st.logs[i].stream !== "event") { first = Math.min(first, st.logs[i].t); break; }
    }
    if (first === end) first = 0;
    var origin = Math.max(0, first - (end - first) * 0.01);
    var view = { from: origin, to: end };
    var wrap = el("div", { class: "tl-wrap" });
    var plot = svg("svg", { class: "timeline", id: "timeline-svg" });
    var canvas = el("canvas", { class: "ops", id: "ops-canvas" });
    var tooltip = document.getElementById("tooltip");

    // Clients: the test's own requests first, then each client.
    var clients = [];
    var byClient = {};
    ops.forEach(function (o) {
      if (!(o.client in byClient)) { byClient[o.client] = []; clients.push(o.client); }
      byClient[o.client].push(o);
    });
    clients.sort(function (a, b) { return a - b; });
    var opRow = Math.max(3, Math.min(14, Math.floor(360 / Math.max(1, clients.length))));

    // Faults in rows that do not overlap.
    var faultRows = [];
    st.faults.forEach(function (f) {
      for (var r = 0; r < faultRows.length; r++) {
        if (faultRows[r] <= f.start_ms) { faultRows[r] = f.end_ms; f._row = r; return; }
      }
      f._row = faultRows.length; faultRows.push(f.end_ms);
    });
    var sides = {};
    st.faults.forEach(function (f) {
      if (f.side && !(f.side in sides)) sides[f.side] = Object.keys(sides).length;
    });

    var lat = ops.map(function (o) { return o.complete_ms - o.invoke_ms; }).sort(function (a, b) { return a - b; });
    var counts = { ok: 0, fail: 0, unknown: 0 };
    ops.forEach(function (o) { counts[o.outcome] = (counts[o.outcome] || 0) + 1; });

    var toolbar = el("div", { class: "tl-tools" },
      el("button", { id: "zoom-reset", onclick: function () { zoom(origin, end); }, text: "Whole run" }),
      el("span", { class: "note", text: " Wheel zooms, drag pans; click a test to zoom to it." }),
      ops.length ? el("span", { class: "opstats", id: "op-stats",
        text: ops.length + " operations: " + counts.ok + " ok, " + counts.fail + " fail, " + counts.unknown +
          " unknown · latency p50 " + fmtDur(percentile(lat, 0.5)) + ", p99 " + fmtDur(percentile(lat, 0.99)) +
          ", max " + fmtDur(lat[lat.length - 1]) }) : null);
    var legend = el("div", { class: "legend" },
      Object.keys(STATE_COLORS).map(function (k) { return el("span", null, el("i", { style: "background:" + STATE_COLORS[k] }), k); }),
      ["partitioned", "cut", "impaired"].map(function (k) { return el("span", null, el("i", { style: "background:" + FAULT_COLORS[k] }), k); }),
      el("span", null, el("i", { style: "background:#facc15" }), "leader"),
      Object.keys(OUTCOME_COLORS).map(function (k) { return el("span", null, el("i", { style: "background:" + OUTCOME_COLORS[k] }), "op " + k); }));
    var section = el("section", { id: "timeline" }, el("h3", { text: "Timeline" }), toolbar, legend, wrap);
    append(wrap, [plot, canvas]);

    function width() { return Math.max(300, wrap.clientWidth - LABEL - 8); }
    function X(t) { return LABEL + (t - view.from) / (view.to - view.from) * width(); }

    function draw() {
      var W = width();
      var y = 0;
      plot.innerHTML = "";
      var clip = svg("clipPath", { id: "plot-clip" }, svg("rect", { x: LABEL, y: 0, width: W, height: 10000 }));
      append(plot, svg("defs", null, clip));
      var body = svg("g", { "clip-path": "url(#plot-clip)" });
      var labels = svg("g", { class: "labels" });

      // Axis.
      var step = niceStep((view.to - view.from) / Math.max(2, W / 110));
      var axis = svg("g", { class: "axis" });
      for (var t = Math.ceil(view.from / step) * step; t <= view.to; t += step) {
        append(axis, [svg("line", { x1: X(t), x2: X(t), y1: AXIS - 5, y2: 10000, class: "grid" }),
          svg("text", { x: X(t) + 2, y: AXIS - 8, text: fmtTime(t) })]);
      }
      append(body, axis);
      y = AXIS;

      function rowLabel(text, h, cls) {
        append(labels, svg("text", { x: 4, y: y + h / 2 + 4, class: cls || "row-label", text: text }));
      }

      // Tests.
      rowLabel("tests", ROW);
      st.tests.forEach(function (t) {
        if (t.start_ms === undefined) return;
        var x0 = X(t.start_ms), x1 = X(t.start_ms + t.duration_ms);
        var g = svg("g", { class: "test-span test-" + t.status.replace(" ", "-"), "data-name": t.name });
        append(g, tip(svg("rect", { x: x0, y: y + 2, width: Math.max(1, x1 - x0), height: ROW - 4, rx: 3 }),
          t.name + " — " + t.status + " in " + fmtDur(t.duration_ms)));
        if (x1 - x0 > 30) append(g, svg("text", { x: x0 + 4, y: y + ROW / 2 + 4, text: t.name }));
        append(body, g);
      });
      y += ROW;

      // Leaders.
      if (st.leaders.length) {
        rowLabel("leader", 16);
        st.leaders.forEach(function (l) {
          var x0 = X(l.start_ms), x1 = Math.max(x0 + 3, X(l.end_ms));
          append(body, tip(svg("rect", { class: "leader", "data-node": l.node, x: x0, y: y + 2, width: x1 - x0, height: 12, fill: "#facc15", stroke: nodeColor(l.node) }),
            l.node + " leads in term " + l.term + " (" + fmtTime(l.start_ms) + " – " + fmtTime(l.end_ms) + ")"));
          if (x1 - x0 > 40) append(body, svg("text", { class: "on-leader", x: x0 + 3, y: y + 12, text: l.node + " · term " + l.term }));
        });
        y += 16;
      }

      // One lane per node.
      var laneTop = {};
      st.nodes.forEach(function (n) {
        laneTop[n.name] = y;
        rowLabel(n.name, ROW, "node-label");
        var lane = svg("g", { class: "lane", "data-node": n.name });
        append(lane, svg("rect", { class: "lane-bg", x: LABEL, y: y + 1, width: W, height: ROW - 2 }));
        n.spans.forEach(function (s) {
          var x0 = X(s.start_ms), x1 = X(s.end_ms);
          append(lane, tip(svg("rect", { class: "state state-" + s.state, x: x0, y: y + 3, width: Math.max(1, x1 - x0), height: ROW - 6, fill: STATE_COLORS[s.state] || "#e5e7eb" }),
            n.name + " " + s.state + " " + fmtTime(s.start_ms) + " – " + fmtTime(s.end_ms)));
        });
        st.faults.forEach(function (f) {
          if (f.node !== n.name || (f.kind !== "partitioned" && f.kind !== "cut" && f.kind !== "impaired")) return;
          var x0 = X(f.start_ms), x1 = X(f.end_ms);
          var color = f.kind === "partitioned" ? SIDE_COLORS[sides[f.side] % SIDE_COLORS.length] : FAULT_COLORS[f.kind];
          // A partition marks the top of the lane, a cut the middle and an impairment the bottom.
          var yy = f.kind === "partitioned" ? y + 3 : f.kind === "cut" ? y + ROW / 2 - 2 : y + ROW - 8;
          append(lane, tip(svg("rect", { class: "mark mark-" + f.kind, x: x0, y: yy, width: Math.max(1, x1 - x0), height: 5, fill: color }),
            n.name + " " + f.kind + (f.detail ? " " + f.detail : "") + (f.side ? " (side " + f.side + ")" : "")));
        });
        st.leaders.forEach(function (l) {
          if (l.node !== n.name) return;
          append(lane, svg("rect", { class: "lane-leader", x: X(l.start_ms), y: y + ROW - 4, width: Math.max(3, X(l.end_ms) - X(l.start_ms)), height: 3, fill: "#ca8a04" }));
        });
        st.events.forEach(function (e) {
          if (e.node !== n.name) return;
          append(lane, tip(svg("line", { class: "event-tick", x1: X(e.t), x2: X(e.t), y1: y + 2, y2: y + ROW - 2 }), fmtTime(e.t) + " " + n.name + " [" + e.text + "]"));
        });
        append(body, lane);
        y += ROW;
      });

      // Fault bands: one row per overlap, and a faint band over the lanes.
      var lanesBottom = y;
      var fh = 16;
      if (st.faults.length) {
        rowLabel("faults", fh * faultRows.length);
        st.faults.forEach(function (f) {
          var x0 = X(f.start_ms), x1 = Math.max(x0 + 2, X(f.end_ms));
          var color = FAULT_COLORS[f.kind] || "#6b7280";
          var label = f.node + " " + f.kind + (f.detail ? " " + f.detail : "");
          var top = AXIS + ROW;
          append(body, svg("rect", { class: "fault-shade", x: x0, y: top, width: x1 - x0, height: lanesBottom - top, fill: color }));
          var g = svg("g", { class: "fault fault-" + f.kind, "data-node": f.node });
          append(g, tip(svg("rect", { x: x0, y: y + f._row * fh + 2, width: x1 - x0, height: fh - 3, fill: color, rx: 2 }),
            label + " · " + fmtTime(f.start_ms) + " – " + (f.open ? "end of run" : fmtTime(f.end_ms))));
          if (x1 - x0 > 60) append(g, svg("text", { class: "on-bar", x: x0 + 3, y: y + f._row * fh + 12, text: label }));
          append(body, g);
        });
        y += fh * faultRows.length;
      }

      // Operations: labels here, bars on the canvas below.
      var opsTop = y;
      if (clients.length) {
        append(body, svg("line", { x1: LABEL, x2: LABEL + W, y1: y + 1, y2: y + 1, class: "sep" }));
        clients.forEach(function (c, i) {
          if (opRow >= 9 || i % Math.ceil(9 / opRow) === 0) {
            append(labels, svg("text", { x: 4, y: y + i * opRow + Math.min(opRow, 10) + 2, class: "op-label",
              text: c < 0 ? "checks" : "client " + c }));
          }
        });
        y += clients.length * opRow + 4;
      }
      // A red line where each test failed, across the whole timeline.
      st.tests.forEach(function (t) {
        if (!t.failure || t.start_ms === undefined) return;
        var x = X(t.start_ms + t.duration_ms);
        append(body, tip(svg("line", { class: "failed-at", x1: x, x2: x, y1: AXIS - 4, y2: y }), t.name + " failed at " + fmtTime(t.start_ms + t.duration_ms) + ": " + t.failure.message));
      });
      plot.setAttribute("width", LABEL + W);
      plot.setAttribute("height", y);
      append(plot, [body, labels]);
      drawOps(opsTop, W);
    }

    function drawOps(top, W) {
      var dpr = window.devicePixelRatio || 1;
      var h = clients.length * opRow;
      canvas.style.top = top + 3 + "px";
      canvas.style.left = LABEL + "px";
      canvas.style.width = W + "px";
      canvas.style.height = h + "px";
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.hidden = !clients.length;
      var ctx = canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, h);
      var span = view.to - view.from;
      clients.forEach(function (c, i) {
        var list = byClient[c];
        var y = i * opRow;
        var bh = Math.max(2, opRow - 1);
        ["ok", "fail", "unknown"].forEach(function (outcome) {
          ctx.fillStyle = OUTCOME_COLORS[outcome];
          for (var j = 0; j < list.length; j++) {
            var o = list[j];
            if (o.outcome !== outcome || o.complete_ms < view.from || o.invoke_ms > view.to) continue;
            var x0 = (o.invoke_ms - view.from) / span * W;
            var x1 = (o.complete_ms - view.from) / span * W;
            ctx.fillRect(x0, y, Math.max(1, x1 - x0), bh);
          }
        });
      });
    }

    canvas.addEventListener("mousemove", function (ev) {
      var r = canvas.getBoundingClientRect();
      var row = Math.floor((ev.clientY - r.top) / opRow);
      var t = view.from + (ev.clientX - r.left) / r.width * (view.to - view.from);
      var slack = 3 / r.width * (view.to - view.from);
      var list = byClient[clients[row]] || [];
      var hit = null;
      for (var j = 0; j < list.length; j++) {
        if (list[j].invoke_ms - slack <= t && t <= list[j].complete_ms + slack) { hit = list[j]; break; }
      }
      if (!hit) { tooltip.hidden = true; return; }
      tooltip.hidden = false;
      tooltip.style.left = ev.pageX + 12 + "px";
      tooltip.style.top = ev.pageY + 12 + "px";
      tooltip.textContent = hit.method + " " + hit.path + " on " + hit.node + " → " +
        (hit.status || hit.error || "no answer") + " · " + hit.outcome + " · " + fmtDur(hit.complete_ms - hit.invoke_ms) +
        " at " + fmtTime(hit.invoke_ms) + (hit.test ? " · " + hit.test : "") + (hit.client >= 0 ? " · client " + hit.client : "");
    });
    canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; });

    function zoom(a, b) {
      var min = Math.max(1, end / 1e6);
      view.from = Math.max(origin, a);
      view.to = Math.min(end, Math.max(b, view.from + min));
      if (view.to - view.from < min) view.from = Math.max(origin, view.to - min);
      draw();
    }
    wrap.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = wrap.getBoundingClientRect();
      var f = Math.min(1, Math.max(0, (ev.clientX - r.left - LABEL) / width()));
      var at = view.from + f * (view.to - view.from);
      var k = ev.deltaY > 0 ? 1.25 : 0.8;
      zoom(at - (at - view.from) * k, at + (view.to - at) * k);
    }, { passive: false });
    var dragging = null;
    wrap.addEventListener("mousedown", function (ev) { dragging = { x: ev.clientX, from: view.from, to: view.to }; });
    window.addEventListener("mouseup", function () { dragging = null; });
    window.addEventListener("mousemove", function (ev) {
      if (!dragging) return;
      var dt = (ev.clientX - dragging.x) / width() * (dragging.to - dragging.from);
      var a = dragging.from - dt, b = dragging.to - dt;
      if (a < origin) { b += origin - a; a = origin; }
      if (b > end) { a -= b - end; b = end; }
      view.from = Math.max(origin, a); view.to = b;
      draw();
    });
    window.addEventListener("resize", function () { draw(); });

    return { element: section, draw: draw, zoom: zoom };
  }

  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-6))));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // ---- failures

  function renderFailures(st) {
    var items = [];
    if (st.error) items.push({ name: st.stopped || "the run stopped", failure: st.error, at: st.duration_ms });
    st.tests.forEach(function (t) {
      if (t.failure) items.push({ name: t.name, failure: t.failure, at: t.start_ms !== undefined ? t.start_ms + t.duration_ms : st.duration_ms });
    });
    if (!items.length) return null;
    return el("section", { id: "failures" }, el("h3", { text: "What failed" }), items.map(function (it) {
      var f = it.failure, p = f.position;
      var around = st.logs.filter(function (l) { return l.t >= it.at - 10000 && l.t <= it.at + 1000; });
      return el("article", { class: "failure failure-" + f.verdict },
        el("h4", null, it.name),
        p ? el("div", { class: "position", text: p.file + ":" + p.line + (p.column ? ":" + p.column : "") }) : null,
        el("p", { class: "message", text: f.message }),
        f.hint ? el("p", { class: "hint" }, el("b", { text: "Hint: " }), f.hint) : null,
        f.visualization ? el("p", null, el("a", { class: "visualization", href: f.visualization, text: "See the history that is not linearizable (" + f.visualization + ")" })) : null,
        el("details", { class: "failure-text", open: true }, el("summary", { text: "Full failure" }), el("pre", { text: f.text })),
        el("details", { class: "around", open: true },
          el("summary", { text: "Node logs around the failure (10s before to 1s after, " + around.length + " lines)" }),
          logView(around, st, it.at)));
    }), (st.visualizations || []).length ? el("p", null, "Visualizations: ", st.visualizations.map(function (v) {
      return el("a", { href: v, class: "visualization", text: v + " " });
    })) : null);
  }

  // ---- a log view with filters per node

  var LOG_LIMIT = 3000;

  function logView(lines, st, mark) {
    var nodes = st.nodes.map(function (n) { return n.name; });
    lines.forEach(function (l) { if (l.node && nodes.indexOf(l.node) < 0) nodes.push(l.node); });
    var shown = {};
    nodes.forEach(function (n) { shown[n] = true; });
    var showEvents = true, stderrOnly = false, query = "", limit = LOG_LIMIT;
    var list = el("div", { class: "log-lines" });
    var count = el("span", { class: "log-count" });
    var filters = el("div", { class: "log-filters" },
      nodes.map(function (n) {
        var box = el("input", { type: "checkbox", checked: true, "data-node": n,
          onchange: function () { shown[n] = box.checked; fill(); } });
        return el("label", { class: "node-filter", style: "color:" + nodeColor(n) }, box, n);
      }),
      (function () {
        var box = el("input", { type: "checkbox", checked: true, class: "events-filter",
          onchange: function () { showEvents = box.checked; fill(); } });
        return el("label", null, box, "cluster events");
      })(),
      (function () {
        var box = el("input", { type: "checkbox", class: "stderr-filter",
          onchange: function () { stderrOnly = box.checked; fill(); } });
        return el("label", null, box, "stderr only");
      })(),
      (function () {
        var input = el("input", { type: "search", placeholder: "filter text", class: "text-filter",
          oninput: function () { query = input.value.toLowerCase(); fill(); } });
        return input;
      })(),
      count);
    function fill() {
      var rows = [], n = 0, total = 0;
      for (var i = 0; i < lines.length; i++) {
        var l = lines[i];
        if (l.node ? !shown[l.node] : !showEvents) continue;
        if (stderrOnly && l.stream !== "stderr") continue;
        if (query && l.text.toLowerCase().indexOf(query) < 0 && (l.node || "").indexOf(query) < 0) continue;
        total++;
        if (n >= limit) continue;
        n++;
        var who = l.node || "**";
        var text = l.stream === "event" ? "[" + l.text + "]" : l.text;
        rows.push(el("div", { class: "log-line " + l.stream + (mark !== null && l.t > mark ? " after" : ""), "data-node": l.node || "" },
          el("span", { class: "t", text: fmtTime(l.t) }),
          el("span", { class: "who", style: "color:" + nodeColor(l.node), text: "[" + who + "]" }),
          el("span", { class: "text", text: text })));
      }
      list.innerHTML = "";
      append(list, rows);
      if (total > n) {
        append(list, el("button", { class: "more", text: "Show all " + total + " lines",
          onclick: function () { limit = Infinity; fill(); } }));
      }
      count.textContent = total + " of " + lines.length + " lines";
    }
    fill();
    return el("div", { class: "log-view" }, filters, list);
  }

  function cutNote(st) {
    var cut = st.logs_cut || {};
    var keys = Object.keys(cut);
    if (!keys.length) return null;
    return el("p", { class: "note", text: "Only the last lines of each log are kept: left out " +
      keys.map(function (k) { return cut[k] + " of " + k; }).join(", ") + "." });
  }

  try {
    renderHead();
    renderStages();
  } finally {
    state.renderMs = performance.now() - started;
    // From the start of the navigation: reading the file and the page too.
    state.pageMs = performance.now();
    state.ready = true;
    document.body.setAttribute("data-ready", "1");
    document.body.setAttribute("data-render-ms", state.renderMs.toFixed(1));
  }
})();
