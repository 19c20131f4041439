// The report's views, drawn from the data embedded in the page. Nothing here computes findings: it
// decodes what ctidx wrote (held actions as shared runs over the catalogue, each principal's used
// actions) and lays it out.
"use strict";
(function () {
  // The data is JSON, gzip-compressed, in base64: the browser inflates it itself.
  function load() {
    var text = document.getElementById("ctidx-data").textContent.trim();
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }
  if (typeof DecompressionStream === "undefined") {
    document.querySelector("main").insertAdjacentHTML("afterbegin",
      '<p class="problem">This browser cannot open the report\'s data (it lacks DecompressionStream); use a current Chrome, Edge, Firefox or Safari.</p>');
    return;
  }
  load().then(start, function (error) {
    document.querySelector("main").insertAdjacentHTML("afterbegin",
      '<p class="problem">The report\'s data cannot be read: ' + String(error).replace(/</g, "&lt;") + "</p>");
  });

  var D, DAYS, DAY_INDEX, UNRECORDED;
  function start(data) {
    D = data;
    DAYS = windowDays();
    DAY_INDEX = {};
    DAYS.forEach(function (d, i) { DAY_INDEX[d] = i; });
    UNRECORDED = new Uint8Array(D.actions.length);
    D.unrecorded.forEach(function (pos) { UNRECORDED[pos] = 1; });
    coverage();
    shareChart();
    window.addEventListener("hashchange", route);
    route();
    document.body.setAttribute("data-ready", "true");
  }
  var MARKS = { used: "\u00a0", unused: "-", unknown: "?", not_granted: "+" };
  var STATUS_TEXT = { used: "used", unused: "unused", unknown: "unknown", not_granted: "not granted" };

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(n) { return Number(n || 0).toLocaleString("en-US"); }
  function el(id) { return document.getElementById(id); }
  function granted(p) { return p.counts[0] + p.counts[1] + p.counts[2]; }
  function share(p) { var g = granted(p); return g ? Math.floor(p.counts[1] * 100 / g) : 0; }
  function shortTime(t) { return t ? t.replace("T", " ").replace("Z", " UTC") : ""; }
  function actionName(pos) {
    var a = D.actions[pos];
    return D.services[a[0]] + ":" + a[1];
  }

  // The days of the window, as YYYY-MM-DD.
  function windowDays() {
    var days = [];
    var t = Date.parse(D.window.start + "T00:00:00Z");
    var end = Date.parse(D.window.end + "T00:00:00Z");
    for (; t <= end && days.length < 40000; t += 86400000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    return days;
  }

  // ---- views and routing ----
  function show(view) {
    ["summary", "principals", "principal", "coverage"].forEach(function (name) {
      el(name).hidden = name !== view;
    });
    var links = document.querySelectorAll("nav a");
    for (var i = 0; i < links.length; i++) {
      var active = links[i].getAttribute("data-view") === view ||
        (view === "principal" && links[i].getAttribute("data-view") === "principals");
      links[i].classList.toggle("active", active);
    }
  }
  // A view's filters can ride in its address, so that a filtered view can be shared as a link:
  // `#principals?type=user&idle=1&sort=name`, `#principal/3?status=unused&level=Write&service=s3`.
  function options(query) {
    var found = {};
    (query || "").split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at > 0) found[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
    });
    return found;
  }
  function route() {
    var hash = location.hash.replace(/^#/, "");
    var query = hash.indexOf("?") >= 0 ? hash.slice(hash.indexOf("?") + 1) : "";
    hash = hash.split("?")[0];
    var match = /^principal\/(\d+)$/.exec(hash);
    if (match && D.principals[Number(match[1])]) {
      // Shown first: the virtual table measures its rows, which a hidden view does not have.
      show("principal");
      showPrincipal(Number(match[1]), options(query));
    } else if (hash === "principals") {
      show("principals");
      principalTable(options(query));
    } else if (hash === "coverage") {
      show("coverage");
    } else {
      show("summary");
    }
    window.scrollTo(0, 0);
  }

  // ---- principals table ----
  var table = null;
  var sortKey = "share";
  var sortDesc = true;
  var filterTimer = null;
  function sortValue(p, key) {
    switch (key) {
      case "account": return D.accounts[p.account] ? D.accounts[p.account].name : "";
      case "type": return p.type;
      case "name": return p.name.toLowerCase();
      case "last": return p.last || "";
      case "granted": return granted(p);
      case "used": return p.counts[0];
      case "share": return share(p);
      case "idle": return p.last ? 0 : 1;
      default: return p.counts[1];
    }
  }
  function principalRows() {
    var text = el("principal-search").value.trim().toLowerCase();
    var account = el("principal-account").value;
    var type = el("principal-type").value;
    var idleOnly = el("principal-idle").checked;
    var chosen = [];
    D.principals.forEach(function (p, i) {
      if (account !== "" && String(p.account) !== account) return;
      if (type && p.type !== type) return;
      if (idleOnly && p.last) return;
      if (text && p.name.toLowerCase().indexOf(text) < 0 && p.arn.toLowerCase().indexOf(text) < 0) return;
      chosen.push(i);
    });
    chosen.sort(function (a, b) {
      var x = sortValue(D.principals[a], sortKey), y = sortValue(D.principals[b], sortKey);
      var order = x < y ? -1 : x > y ? 1 : a - b;
      return sortDesc ? -order : order;
    });
    el("principal-count").textContent = num(chosen.length) + " of " + num(D.principals.length) + " principals";
    return chosen.map(function (i) {
      var p = D.principals[i];
      var acct = D.accounts[p.account] || { name: "", id: "" };
      return '<tr data-index="' + i + '"><td title="' + esc(acct.id) + '">' + esc(acct.name) + "</td><td>" + esc(p.type) +
        '</td><td title="' + esc(p.arn) + '"><a href="#principal/' + i + '">' + esc(p.name) + "</a></td><td>" +
        (p.last ? esc(shortTime(p.last)) : "") + '</td><td class="n">' + num(granted(p)) + '</td><td class="n">' +
        num(p.counts[0]) + '</td><td class="n">' + share(p) + "%</td><td>" +
        (p.last ? "" : '<span class="badge idle">idle</span>') + "</td></tr>";
    });
  }
  function principalTable(given) {
    if (given.q !== undefined) el("principal-search").value = given.q;
    if (given.account !== undefined) {
      var index = D.accounts.findIndex(function (a) { return a.id === given.account || a.name === given.account; });
      el("principal-account").value = index >= 0 ? String(index) : "";
    }
    if (given.type !== undefined) el("principal-type").value = given.type;
    if (given.idle !== undefined) el("principal-idle").checked = given.idle === "1";
    if (given.sort !== undefined) {
      sortKey = given.sort;
      sortDesc = given.desc === "1";
    }
    var heads = document.querySelectorAll("#principal-table th[data-sort]");
    for (var h = 0; h < heads.length; h++) {
      heads[h].classList.remove("sorted-desc", "sorted-asc");
      if (heads[h].getAttribute("data-sort") === sortKey) heads[h].classList.add(sortDesc ? "sorted-desc" : "sorted-asc");
    }
    if (table) {
      table.update(principalRows());
      return;
    }
    table = new Clusterize({
      rows: principalRows(),
      scrollId: "principal-scroll",
      contentId: "principal-rows",
      no_data_text: "No principal matches."
    });
    var refresh = function () {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(function () { table.update(principalRows()); }, 120);
    };
    ["principal-search", "principal-account", "principal-type", "principal-idle"].forEach(function (id) {
      el(id).addEventListener("input", refresh);
      el(id).addEventListener("change", refresh);
    });
    var heads = document.querySelectorAll("#principal-table th[data-sort]");
    for (var i = 0; i < heads.length; i++) {
      heads[i].addEventListener("click", function (event) {
        var key = event.currentTarget.getAttribute("data-sort");
        sortDesc = key === sortKey ? !sortDesc : ["granted", "used", "share", "last", "idle"].indexOf(key) >= 0;
        sortKey = key;
        for (var j = 0; j < heads.length; j++) { heads[j].classList.remove("sorted-desc", "sorted-asc"); }
        event.currentTarget.classList.add(sortDesc ? "sorted-desc" : "sorted-asc");
        table.update(principalRows());
      });
    }
  }

  // ---- one principal ----
  var diffTable = null;
  // Every action of the principal, in the catalogue's order: its held runs, then its own used list.
  // A held action the principal did not use is unknown when CloudTrail cannot show its use, else
  // unused; `flip` lists any the findings say otherwise.
  function diffOf(p) {
    var rows = [];
    var holding = D.holdings[p.holding] || { runs: [], flip: [] };
    var flip = {};
    holding.flip.forEach(function (pos) { flip[pos] = true; });
    var runs = holding.runs;
    for (var i = 0; i + 2 < runs.length; i += 3) {
      for (var k = 0; k < runs[i + 1]; k++) {
        var pos = runs[i] + k;
        var unknown = (UNRECORDED[pos] === 1) !== (flip[pos] === true);
        rows[pos] = { pos: pos, status: unknown ? "unknown" : "unused", grant: runs[i + 2] };
      }
    }
    p.used.forEach(function (u) {
      rows[u[0]] = {
        pos: u[0], status: D.statuses[u[1]], grant: u[2], calls: u[3], last: u[4],
        denied: u[5], resources: u[6], others: u[7]
      };
    });
    return rows.filter(function (r) { return r; });
  }
  function grantText(index) {
    var g = D.grants[index];
    if (!g) return "";
    return (g.notes.length ? "(" + g.notes.join(", ") + ") " : "") + g.by.join("; ");
  }
  function diffRowsHtml(diff, filters) {
    var chosen = diff.filter(function (r) {
      var a = D.actions[r.pos];
      return filters.statuses[r.status] && (filters.service === "" || String(a[0]) === filters.service) &&
        (filters.level === "" || String(a[2]) === filters.level) &&
        (!filters.text || actionName(r.pos).toLowerCase().indexOf(filters.text) >= 0);
    });
    if (filters.usedFirst) {
      // Stable: within each group, the catalogue's order stays.
      chosen = chosen.filter(function (r) { return r.calls; }).concat(chosen.filter(function (r) { return !r.calls; }));
    }
    return chosen.map(function (r) {
      var a = D.actions[r.pos];
      var grant = grantText(r.grant);
      var resources = r.resources && r.resources.length
        ? r.resources.join("\n") + (r.others ? "\n… and " + r.others + " more" : "") : "";
      return '<tr class="status-' + r.status + '"><td class="mark mono">' + MARKS[r.status] + '</td><td class="mono" title="' +
        esc(resources) + '">' + esc(actionName(r.pos)) + "</td><td>" + esc(D.levels[a[2]]) + '</td><td class="status">' +
        esc(STATUS_TEXT[r.status]) + '</td><td class="n">' + (r.calls ? num(r.calls) : "") +
        (r.denied ? ' <span class="problem" title="refused for lack of permission">(' + num(r.denied) + " denied)</span>" : "") +
        "</td><td>" + esc(shortTime(r.last)) + '</td><td title="' + esc(grant) + '">' +
        (r.grant >= 0 ? esc(grant) : '<span class="hint">not granted now</span>') + "</td></tr>";
    });
  }

  // A bar chart's frame: the plot area, a value axis with gridlines from 0 to a round maximum, the
  // category labels under the bars, and both axis titles. `bars(x, width, y)` draws the bars.
  function barChart(o) {
    var W = o.width, H = 230, left = 56, right = 12, top = 14, bottom = 48;
    var step = niceStep(o.max);
    var topValue = Math.max(step, Math.ceil(o.max / step) * step);
    var plotW = W - left - right, plotH = H - top - bottom;
    var bw = plotW / Math.max(1, o.labels.length);
    var y = function (v) { return top + plotH - v / topValue * plotH; };
    var out = ['<svg viewBox="0 0 ' + W + " " + H + '" width="' + W + '" height="' + H + '" role="img" ' + o.attributes + ">"];
    out.push('<g class="axis">');
    for (var v = 0; v <= topValue; v += step) {
      out.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + y(v) + '" y2="' + y(v) + '" stroke-opacity="0.25"/>');
      out.push('<text x="' + (left - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + num(v) + "</text>");
    }
    out.push('<line x1="' + left + '" x2="' + left + '" y1="' + top + '" y2="' + (top + plotH) + '"/>');
    out.push('<line x1="' + left + '" x2="' + (W - right) + '" y1="' + (top + plotH) + '" y2="' + (top + plotH) + '"/>');
    var every = Math.max(1, Math.ceil(o.labels.length / 10));
    for (var i = 0; i < o.labels.length; i += every) {
      var x = left + i * bw + bw / 2;
      out.push('<line x1="' + x + '" x2="' + x + '" y1="' + (top + plotH) + '" y2="' + (top + plotH + 4) + '"/>');
      out.push('<text x="' + x + '" y="' + (top + plotH + 16) + '" text-anchor="middle">' + esc(o.labels[i]) + "</text>");
    }
    out.push("</g>");
    out.push('<text x="' + (left + plotW / 2) + '" y="' + (H - 8) + '" text-anchor="middle">' + esc(o.xTitle) + "</text>");
    out.push('<text transform="translate(14 ' + (top + plotH / 2) + ') rotate(-90)" text-anchor="middle">' + esc(o.yTitle) + "</text>");
    for (var k = 0; k < o.labels.length; k++) {
      out.push(o.bars(k, left + k * bw, bw, y));
    }
    out.push("</svg>");
    return out.join("");
  }
  function rect(className, x, width, yTop, yBottom, title) {
    return '<rect class="' + className + '" x="' + x.toFixed(2) + '" y="' + yTop.toFixed(2) + '" width="' + width.toFixed(2) +
      '" height="' + Math.max(0, yBottom - yTop).toFixed(2) + '"><title>' + esc(title) + "</title></rect>";
  }
  function niceStep(max) {
    if (max <= 4) return 1;
    var raw = max / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
    var unit = raw / power;
    return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  }

  // Calls per day: successful calls, and refused ones stacked on top.
  function chart(p) {
    var calls = new Array(DAYS.length).fill(0), denied = new Array(DAYS.length).fill(0);
    p.daily.forEach(function (d) {
      var i = DAY_INDEX[d[0]];
      if (i !== undefined) { calls[i] = d[1]; denied[i] = d[2]; }
    });
    var max = 0;
    for (var i = 0; i < DAYS.length; i++) { max = Math.max(max, calls[i] + denied[i]); }
    return barChart({
      width: 900, max: max,
      labels: DAYS.map(function (d) { return d.slice(5); }),
      xTitle: "day (UTC, month-day), " + D.window.start + " to " + D.window.end,
      yTitle: "calls per day",
      attributes: 'aria-label="Calls per day" id="calls-chart" data-days="' + DAYS.length + '" data-total="' +
        calls.reduce(function (a, b) { return a + b; }, 0) + '"',
      bars: function (k, x, bw, y) {
        var width = Math.max(0.5, bw - 1), bars = "";
        if (calls[k]) bars += rect("bar", x + 0.5, width, y(calls[k]), y(0), DAYS[k] + ": " + num(calls[k]) + " calls");
        if (denied[k]) {
          bars += rect("bar denied", x + 0.5, width, y(calls[k] + denied[k]), y(calls[k]), DAYS[k] + ": " + num(denied[k]) + " refused");
        }
        return bars;
      }
    });
  }

  function showPrincipal(index, given) {
    var p = D.principals[index];
    var acct = D.accounts[p.account] || { name: "", id: "" };
    var diff = diffOf(p);
    var services = {};
    diff.forEach(function (r) { services[D.actions[r.pos][0]] = true; });
    var html = [];
    html.push('<p><a href="#principals">\u2190 all principals</a></p>');
    html.push('<div class="principal-head"><h2 id="principal-name">' + esc(p.type) + " " + esc(p.name) + " " +
      (p.last ? '<span class="badge active">active</span>' : '<span class="badge idle" id="principal-idle-badge">idle</span>') + "</h2>");
    html.push("<dl><dt>ARN</dt><dd class=\"mono\">" + esc(p.arn) + "</dd><dt>Account</dt><dd>" + esc(acct.name) + " (" +
      esc(acct.id) + ")</dd><dt>Created</dt><dd>" + esc(shortTime(p.created) || "unknown") + "</dd><dt>Last activity</dt><dd>" +
      (p.last ? esc(shortTime(p.last)) : "none in the window: idle") + "</dd><dt>Actions</dt><dd>" + num(p.counts[0]) + " used, " +
      num(p.counts[1]) + " unused, " + num(p.counts[2]) + " unknown, " + num(p.counts[3]) + " used but not granted now" +
      "</dd><dt>Refused calls</dt><dd>" + num(p.denied_calls) + "</dd></dl></div>");
    html.push('<h3>Calls per day</h3><div class="chart">' + chart(p) + '</div><p class="legend"><span><i style="background:#4a78c2"></i>successful calls</span>' +
      '<span><i style="background:var(--denied)"></i>refused for lack of permission</span></p>');
    if (p.people) {
      html.push("<h3>People behind its sessions</h3>");
      if (p.people.length) {
        html.push('<table id="people"><thead><tr><th>Person</th><th class="n">Calls</th><th class="n">Actions used</th></tr></thead><tbody>');
        p.people.forEach(function (person) {
          html.push("<tr><td>" + esc(person[0]) + '</td><td class="n">' + num(person[1]) + '</td><td class="n">' + num(person[2]) + "</td></tr>");
        });
        html.push("</tbody></table>");
        if (p.people_others) html.push('<p class="hint">and ' + num(p.people_others) + " others</p>");
      } else {
        html.push('<p class="hint">No session of this role in the window.</p>');
      }
    }
    html.push('<h3>What it holds and what it used</h3><div class="filters" id="diff-filters">');
    D.statuses.forEach(function (s) {
      html.push('<label><input type="checkbox" data-status="' + s + '" checked> ' + esc(MARKS[s] === "\u00a0" ? "" : MARKS[s]) + " " + esc(STATUS_TEXT[s]) + "</label>");
    });
    html.push('<label>Service <select id="diff-service"><option value="">all</option>');
    Object.keys(services).map(Number).sort(function (a, b) { return D.services[a] < D.services[b] ? -1 : 1; }).forEach(function (s) {
      html.push('<option value="' + s + '">' + esc(D.services[s]) + "</option>");
    });
    html.push('</select></label><label>Access level <select id="diff-level"><option value="">all</option>');
    D.levels.forEach(function (l, i) { html.push('<option value="' + i + '">' + esc(l) + "</option>"); });
    html.push('</select></label><label>Find <input type="search" id="diff-search" placeholder="action"></label>' +
      '<label><input type="checkbox" id="diff-used-first" checked> used first</label><span id="diff-count" class="hint"></span></div>');
    html.push('<div id="diff-scroll" class="clusterize-scroll"><table class="grid" id="diff"><colgroup><col class="c-mark"><col class="c-action"><col class="c-level"><col class="c-status"><col class="c-calls"><col class="c-time"><col class="c-grant"></colgroup>' +
      '<thead><tr><th></th><th>Action</th><th>Access level</th><th>Status</th><th class="n">Calls</th><th>Last use</th><th>Granted by</th></tr></thead>' +
      '<tbody id="diff-rows" class="clusterize-content"></tbody></table></div>');
    if (p.unmapped.length) {
      html.push("<h3>Calls that map to no IAM action</h3><ul>");
      p.unmapped.forEach(function (u) { html.push("<li class=\"mono\">" + esc(u[0]) + " " + esc(u[1]) + " (" + num(u[2]) + " calls)</li>"); });
      html.push("</ul>");
    }
    html.push('<h3>The policy it needs</h3><div class="policy" id="policy">');
    if (!p.policy) {
      html.push('<p class="hint">Not written for this report.</p>');
    } else if (p.policy.error) {
      html.push('<p class="hint" id="policy-none">No policy: ' + esc(p.policy.error) + "</p>");
    } else {
      html.push('<p id="policy-size">' + p.policy.sizes.map(function (s, i) {
        return (p.policy.sizes.length > 1 ? "document " + (i + 1) + ": " : "") + num(s) + " of " + num(D.policy_limit) + " characters";
      }).join(", ") + " (" + esc(D.policy_target) + ", white space not counted) " +
        '<button type="button" id="policy-copy">Copy</button></p><pre id="policy-text">' + esc(p.policy.text) + "</pre>" +
        '<p class="hint">Every action it used successfully in the window, on the resources its calls named; held actions whose use CloudTrail cannot show are left out. <code>ctidx policy</code> writes the same, with <code>--explain</code> for the evidence.</p>');
    }
    html.push("</div>");
    if (p.warnings.length) {
      html.push("<h3>What the evaluation could not take into account</h3><ul>");
      p.warnings.forEach(function (w) { html.push('<li class="warning">' + esc(w) + "</li>"); });
      html.push("</ul>");
    }
    var view = el("principal");
    if (diffTable) { diffTable.destroy(true); diffTable = null; }
    view.innerHTML = html.join("");
    var filters = function () {
      var statuses = {};
      var boxes = view.querySelectorAll("input[data-status]");
      for (var i = 0; i < boxes.length; i++) { statuses[boxes[i].getAttribute("data-status")] = boxes[i].checked; }
      return { statuses: statuses, service: el("diff-service").value, level: el("diff-level").value,
        text: el("diff-search").value.trim().toLowerCase(), usedFirst: el("diff-used-first").checked };
    };
    var rows = function () {
      var shown = diffRowsHtml(diff, filters());
      el("diff-count").textContent = num(shown.length) + " of " + num(diff.length) + " actions";
      return shown;
    };
    if (given.status !== undefined) {
      var wanted = given.status.split(",");
      var boxes = view.querySelectorAll("input[data-status]");
      for (var b = 0; b < boxes.length; b++) { boxes[b].checked = wanted.indexOf(boxes[b].getAttribute("data-status")) >= 0; }
    }
    if (given.service !== undefined) {
      el("diff-service").value = String(D.services.indexOf(given.service));
    }
    if (given.level !== undefined) el("diff-level").value = String(D.levels.indexOf(given.level));
    if (given.q !== undefined) el("diff-search").value = given.q;
    diffTable = new Clusterize({ rows: rows(), scrollId: "diff-scroll", contentId: "diff-rows", no_data_text: "No action matches." });
    el("diff-filters").addEventListener("input", function () { diffTable.update(rows()); });
    el("diff-filters").addEventListener("change", function () { diffTable.update(rows()); });
    var copy = el("policy-copy");
    if (copy) {
      copy.addEventListener("click", function () {
        var text = p.policy.text;
        var done = function () { copy.textContent = "Copied"; };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { selectPolicy(); });
        } else {
          selectPolicy();
        }
      });
    }
  }
  function selectPolicy() {
    var range = document.createRange();
    range.selectNodeContents(el("policy-text"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // ---- summary: how many principals leave what share of their grants unused ----
  function shareChart() {
    var buckets = new Array(11).fill(0);
    D.principals.forEach(function (p) {
      if (granted(p) > 0) buckets[Math.min(10, Math.floor(share(p) / 10))] += 1;
    });
    var labels = ["0–9", "10–19", "20–29", "30–39", "40–49", "50–59", "60–69", "70–79", "80–89", "90–99", "100"];
    el("share-chart-box").innerHTML = barChart({
      width: 640, max: Math.max.apply(null, buckets), labels: labels,
      xTitle: "share of granted actions left unused (%)", yTitle: "principals",
      attributes: 'id="share-chart" aria-label="Principals by unused share"',
      bars: function (k, x, bw, y) {
        return buckets[k] ? rect("bar", x + 2, bw - 4, y(buckets[k]), y(0), labels[k] + "% unused: " + num(buckets[k]) + " principals") : "";
      }
    });
  }

  // ---- coverage: one row of day cells per account, and its gaps ----
  function coverage() {
    var out = [];
    var cell = Math.max(2, Math.min(12, Math.floor(900 / Math.max(1, DAYS.length))));
    out.push('<p class="legend"><span><i style="background:#4a78c2"></i>logs</span><span><i style="background:#fdecea;border:1px solid #f4c7c3"></i>no logs (gap)</span>' +
      "<span>" + num(DAYS.length) + " days, one cell each</span></p>");
    D.accounts.forEach(function (a) {
      var has = {};
      a.days.forEach(function (d) { has[d] = true; });
      var gaps = [], start = null;
      DAYS.forEach(function (d, i) {
        if (!has[d] && start === null) start = i;
        if ((has[d] || i === DAYS.length - 1) && start !== null) {
          var end = has[d] ? i - 1 : i;
          gaps.push(DAYS[start] + (end > start ? " to " + DAYS[end] + " (" + (end - start + 1) + " days)" : ""));
          start = null;
        }
      });
      var svg = ['<svg width="' + (cell * DAYS.length) + '" height="' + (cell + 2) +
        '" role="img" aria-label="days with logs of ' + esc(a.name) + '">'];
      DAYS.forEach(function (d, i) {
        svg.push('<rect class="day ' + (has[d] ? "logs" : "gap") + '" x="' + i * cell + '" y="1" width="' + cell + '" height="' + cell +
          '"><title>' + d + (has[d] ? ": logs" : ": no logs") + "</title></rect>");
      });
      svg.push("</svg>");
      out.push('<div class="coverage-row" data-account="' + esc(a.id) + '" data-gaps="' + gaps.length + '"><span class="label" title="' + esc(a.id) + '">' +
        esc(a.name) + " (" + esc(a.id) + ")</span>" + svg.join("") + "</div>");
      out.push('<p class="hint">' + (gaps.length ? "Gaps: " + esc(gaps.join("; ")) : "No gap: logs for every day of the window.") + "</p>");
    });
    el("coverage-days").innerHTML = out.join("");
  }

})();
