// rayab console: fills the catalogue's per-row cells and draws the charts (uPlot). Every number shown here was
// computed and formatted by the server; this file only places it.
(function () {
  "use strict";

  function text(el, value, cls) {
    el.textContent = value;
    if (cls) el.className = cls;
  }

  function fillCatalogue() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#catalogue tr[data-exp]"));
    var next = 0;
    function worker() {
      if (next >= rows.length) return Promise.resolve();
      var row = rows[next++];
      var id = row.getAttribute("data-exp");
      return fetch("/experiments/" + encodeURIComponent(id) + "/summary")
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var cell = function (f) { return row.querySelector('td[data-field="' + f + '"]'); };
          if (s.error) { text(cell("units"), "-"); text(cell("rel_diff"), s.error); text(cell("health"), "-"); return; }
          text(cell("units"), s.units);
          var relDiff = cell("rel_diff");
          relDiff.textContent = "";
          var span = document.createElement("span");
          span.className = "lift-" + s.tone;
          span.textContent = (s.variant ? s.variant + " " : "") + s.rel_diff;
          relDiff.appendChild(span);
          var health = cell("health");
          health.textContent = "";
          var badge = document.createElement("span");
          badge.className = "badge badge-" + s.health;
          badge.textContent = s.health;
          badge.title = s.health_reason;
          health.appendChild(badge);
          row.setAttribute("data-loaded", "1");
        })
        .catch(function () { text(row.querySelector('td[data-field="rel_diff"]'), "could not load"); })
        .then(worker);
    }
    var running = [];
    for (var i = 0; i < Math.min(4, rows.length); i++) running.push(worker());
    Promise.all(running).then(function () { document.body.setAttribute("data-catalogue-loaded", "1"); });
  }

  var COLOURS = ["#0b57a4", "#b3501b", "#6b3fa0", "#17663a"];

  function width(el) { return Math.max(280, el.clientWidth || 600); }

  function relDiffChart(el, data) {
    var relDiff = data.rel_diff;
    if (!relDiff.x.length) { el.textContent = "No hour in the window yet."; return null; }
    var series = [{label: "end of hour (UTC)", value: function (u, v) {
      return v == null ? "-" : new Date(v * 1000).toISOString().slice(0, 13);
    }}];
    var columns = [relDiff.x];
    var bands = [];
    relDiff.variants.forEach(function (v, i) {
      var c = COLOURS[i % COLOURS.length];
      var fmt = function (u, x) { return x == null ? "-" : (x > 0 ? "+" : "") + x.toFixed(2) + "%"; };
      var base = columns.length;
      series.push({label: v.variant + " lift", stroke: c, width: 2, value: fmt});
      series.push({label: "low", stroke: c, width: 1, dash: [4, 4], value: fmt});
      series.push({label: "high", stroke: c, width: 1, dash: [4, 4], value: fmt});
      columns.push(v.rel_diff, v.low, v.high);
      bands.push({series: [base + 2, base + 1], fill: c + "22"});
    });
    series.push({label: "no effect", stroke: "#1b1f24", width: 1, value: function () { return "0%"; }});
    columns.push(relDiff.x.map(function () { return 0; }));
    return new uPlot({
      width: width(el), height: 260, series: series, bands: bands,
      scales: {x: {time: true}},
      axes: [{}, {values: function (u, ticks) { return ticks.map(function (t) { return t + "%"; }); }, size: 60}],
      cursor: {drag: {x: true, y: false}}
    }, columns, el);
  }

  function unitsChart(el, data) {
    var units = data.units;
    if (!units.x.length) { el.textContent = "No assignment counts."; return null; }
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({size: [0.6, 80]}) : undefined;
    var index = units.days.map(function (d, i) { return i; });
    var day = function (i) { return units.days[Math.round(i)] || ""; };
    var series = [{label: "day (UTC)", value: function (u, v) { return v == null ? "-" : day(v); }},
                  {label: "new units", stroke: "#0b57a4", fill: "#0b57a455", paths: bars, points: {show: false}},
                  {label: "units so far", stroke: "#17663a", width: 2, scale: "total"}];
    var columns = [index, units.units, units.cumulative];
    if (units.planned) {
      series.push({label: "planned sample", stroke: "#a8261b", width: 2, dash: [6, 4], scale: "total",
                   points: {show: false}});
      columns.push(index.map(function () { return units.planned; }));
    }
    var top = Math.max(1, units.planned || 0, units.cumulative[units.cumulative.length - 1] || 0) * 1.1;
    return new uPlot({
      width: width(el), height: 200, series: series,
      scales: {x: {time: false, range: function () { return [-0.5, units.days.length - 0.5]; }},
               y: {range: function (u, lo, hi) { return [0, Math.max(1, hi) * 1.1]; }},
               total: {range: function () { return [0, top]; }}},
      axes: [{values: function (u, ticks) {
        return ticks.map(function (t) { return Number.isInteger(t) ? day(t) : ""; });
      }, incrs: [1]}, {size: 60, label: "new units"},
        {scale: "total", side: 1, size: 70, grid: {show: false}, label: "units so far"}]
    }, columns, el);
  }

  function chartData(holder) {
    // a report carries its chart data inline; the console fetches it for the page's query string
    var inline = document.getElementById("chart-data");
    if (inline) return Promise.resolve(JSON.parse(inline.textContent));
    return fetch(holder.getAttribute("data-src")).then(function (r) { return r.json(); });
  }

  function drawCharts() {
    var holder = document.getElementById("charts");
    if (!holder || typeof uPlot === "undefined") return;
    chartData(holder)
      .then(function (data) {
        var a = document.getElementById("lift-chart"), b = document.getElementById("units-chart");
        if (data.error) { a.textContent = data.error; b.textContent = ""; return; }
        a.textContent = ""; b.textContent = "";
        var charts = [[a, relDiffChart(a, data)], [b, unitsChart(b, data)]];
        window.addEventListener("resize", function () {
          charts.forEach(function (p) { if (p[1]) p[1].setSize({width: width(p[0]), height: p[1].height}); });
        });
        document.body.setAttribute("data-charts-drawn", "1");
      });
  }

  function sqlPanel() {
    var panel = document.getElementById("sql");
    if (!panel) return;
    var loaded = false;
    panel.addEventListener("toggle", function () {
      if (!panel.open || loaded) return;
      loaded = true;
      fetch(panel.getAttribute("data-src"))
        .then(function (r) { return r.json(); })
        .then(function (data) {
          panel.querySelectorAll("[data-sql]").forEach(function (el) {
            el.textContent = data.error || data[el.getAttribute("data-sql")] || "";
          });
          panel.setAttribute("data-loaded", "1");
        });
    });
  }

  function share() {
    var input = document.getElementById("share");
    if (input) input.value = window.location.origin + input.value;
  }

  // remember who makes changes in this browser (never the token)
  function remember() {
    document.querySelectorAll("input[data-remember]").forEach(function (input) {
      var key = "rayab." + input.getAttribute("data-remember");
      try {
        if (!input.value && window.localStorage.getItem(key)) input.value = window.localStorage.getItem(key);
        input.addEventListener("change", function () { window.localStorage.setItem(key, input.value); });
      } catch (e) { /* storage disabled: nothing to remember */ }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    remember();
    if (document.getElementById("catalogue")) fillCatalogue();
    drawCharts();
    sqlPanel();
    share();
  });
})();
