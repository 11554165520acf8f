// Savings dashboard: draws the three charts from the JSON the server embeds in #figures and
// redraws them whenever htmx swaps in figures for a new period or filter.
(function () {
  "use strict";
  var charts = [];
  // Axis labels that read as money: the sign before the dollar ("-$0.10", never "$-0.1"), cents
  // from a dollar up, two significant digits below it ("$0.0031").
  var money = function (v) {
    var n = Number(v), size = Math.abs(n);
    var digits = size >= 1 || size === 0
      ? {minimumFractionDigits: 2, maximumFractionDigits: 2}
      : {maximumSignificantDigits: 2};
    return (n < 0 ? "-" : "") + "$" + size.toLocaleString("en-US", digits);
  };

  function draw() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var node = document.getElementById("savings-chart-data");
    if (!node || typeof Chart === "undefined") { return; }
    var d = JSON.parse(node.textContent);
    var common = {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: {mode: "index", intersect: false},
      plugins: {legend: {position: "bottom"}}
    };
    var moneyAxis = {y: {ticks: {callback: money}}};
    charts.push(new Chart(document.getElementById("chart-spend"), {
      type: "line",
      data: {labels: d.labels, datasets: [
        {label: "spend", data: d.cost, borderColor: "#2f6fde", backgroundColor: "#2f6fde", pointRadius: 0},
        {label: "baseline (no caching, no batching)", data: d.baseline, borderColor: "#8a94a6",
         borderDash: [6, 4], backgroundColor: "#8a94a6", pointRadius: 0}
      ]},
      options: Object.assign({}, common, {scales: moneyAxis})
    }));
    charts.push(new Chart(document.getElementById("chart-split"), {
      type: "bar",
      data: {labels: d.labels, datasets: [
        {label: "cache reads saved", data: d.cacheReadSaved, backgroundColor: "#1f8a4c"},
        {label: "batch discount", data: d.batchDiscount, backgroundColor: "#2f6fde"},
        {label: "cache write premium paid (cost)", data: d.cacheWritePremium, backgroundColor: "#c0392b"}
      ]},
      options: Object.assign({}, common, {scales: {x: {stacked: true}, y: {stacked: true, ticks: {callback: money}}}})
    }));
    charts.push(new Chart(document.getElementById("chart-hit"), {
      type: "line",
      data: {labels: d.labels, datasets: [
        {label: "cache hit rate %", data: d.hitRate, borderColor: "#b7791f", backgroundColor: "#b7791f",
         pointRadius: 2, spanGaps: true}  // points: a lone day with calls has no line to draw
      ]},
      options: Object.assign({}, common, {scales: {y: {min: 0, max: 100, ticks: {callback: function (v) { return v + "%"; }}}}})
    }));
  }

  function toggleCustom() {
    var form = document.getElementById("savings-filters");
    if (!form) { return; }
    var checked = form.querySelector("input[name=period]:checked");
    var range = form.querySelector(".custom-range");
    var custom = checked && checked.value === "custom";
    range.hidden = !custom;
    range.querySelectorAll("input").forEach(function (i) { i.disabled = !custom; });
    // Switching to "custom" starts from the range on screen, so the first request is valid.
    var shown = document.getElementById("figures");
    if (custom && shown) {
      var start = form.querySelector("input[name=start]");
      var end = form.querySelector("input[name=end]");
      if (!start.value) { start.value = shown.dataset.start; }
      if (!end.value) { end.value = shown.dataset.end; }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    toggleCustom();
    draw();
  });
  // Capture phase: runs before htmx sends the request for the same change event.
  document.addEventListener("change", function (e) {
    if (e.target && e.target.name === "period") { toggleCustom(); }
  }, true);
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && (e.target.id === "figures" || e.target.querySelector && e.target.querySelector("#savings-chart-data"))) { draw(); }
  });
  document.addEventListener("htmx:historyRestore", function () { toggleCustom(); draw(); });
})();
