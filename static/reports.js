/* Service report charts (Chart.js) drawn from the JSON in #report-body[data-report]; no inline JS (CSP). */
(function () {
  "use strict";

  var charts = [];
  var COLORS = { accent: "#3651d4", ok: "#12805c", warn: "#b25e09", bad: "#c4302b", muted: "#98a2b3", grid: "#eef0f3" };
  var printing = document.body && document.body.classList.contains("print-view");

  function t(key) {
    var labels = (document.documentElement.lang || "en").indexOf("es") === 0 ? {
      responses: "Primeras respuestas", attainment: "Cumplimiento SLA %", csat: "CSAT %",
      retention: "Retención %", within_target: "En plazo", late: "Tarde", never_answered: "Sin respuesta",
      retained: "Volvieron", lost: "No volvieron", open_returned: "Ya volvieron (ventana abierta)",
      open: "Aún no (ventana abierta)"
    } : {
      responses: "First responses", attainment: "SLA attainment %", csat: "CSAT %",
      retention: "Retention %", within_target: "Within target", late: "Late", never_answered: "Never answered",
      retained: "Came back", lost: "Did not come back", open_returned: "Back already (window open)",
      open: "Not yet (window open)"
    };
    return labels[key] || key;
  }

  function base(extra) {
    var options = {
      responsive: true, maintainAspectRatio: false, animation: printing ? false : { duration: 300 },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, font: { size: 11 } } } },
      scales: { x: { grid: { display: false }, ticks: { font: { size: 11 } } },
                y: { beginAtZero: true, grid: { color: COLORS.grid }, ticks: { font: { size: 11 } } } }
    };
    return Object.assign(options, extra || {});
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    charts.push(new window.Chart(canvas, config));
  }

  /* Chart.js sizes canvases with style attributes; htmx's history snapshot copies the DOM,
     and a copied style attribute is refused by the CSP. So charts go before any swap. */
  function destroyCharts() {
    charts.forEach(function (chart) {
      var canvas = chart.canvas;
      chart.destroy();
      if (canvas) { canvas.removeAttribute("style"); }
    });
    charts = [];
  }

  function render(root) {
    var host = root.querySelector ? (root.id === "report-body" ? root : root.querySelector("#report-body")) : null;
    if (!host || !window.Chart) { return; }
    destroyCharts();
    var data = JSON.parse(host.getAttribute("data-report") || "{}");
    draw("chart-distribution", {
      type: "bar",
      data: { labels: data.distribution.labels,
              datasets: [{ label: t("responses"), data: data.distribution.counts, borderRadius: 4,
                           backgroundColor: data.distribution.labels.map(function (_, i) {
                             return i < 3 ? COLORS.ok : (i < 5 ? COLORS.warn : COLORS.bad); }) }] },
      options: base({ plugins: { legend: { display: false } } })
    });
    var pct = base();
    pct.scales.y.max = 100;
    draw("chart-trend", {
      type: "line",
      data: { labels: data.trend.labels, datasets: [
        { label: t("attainment"), data: data.trend.attainment, borderColor: COLORS.accent,
          backgroundColor: COLORS.accent, tension: 0.25, spanGaps: true, pointRadius: 3 },
        { label: t("csat"), data: data.trend.csat, borderColor: COLORS.ok,
          backgroundColor: COLORS.ok, tension: 0.25, spanGaps: true, pointRadius: 3 }] },
      options: pct
    });
    var ret = base({ indexAxis: "y" });
    ret.scales = { x: { stacked: true, beginAtZero: true, grid: { color: COLORS.grid }, ticks: { precision: 0, font: { size: 11 } } },
                   y: { stacked: true, grid: { display: false }, ticks: { font: { size: 11 } } } };
    draw("chart-retention", {
      type: "bar",
      data: { labels: data.retention.labels.map(t), datasets: [
        { label: t("retained"), data: data.retention.retained, backgroundColor: COLORS.ok },
        { label: t("lost"), data: data.retention.lost, backgroundColor: COLORS.bad },
        { label: t("open_returned"), data: data.retention.open_returned, backgroundColor: "#8fd3b6" },
        { label: t("open"), data: data.retention.open, backgroundColor: "#d0d5dd" }] },
      options: ret
    });
  }

  function toggleCustomDates() {
    var period = document.getElementById("f-period");
    if (!period) { return; }
    document.querySelectorAll(".custom-dates").forEach(function (el) {
      el.classList.toggle("is-hidden", period.value !== "custom");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    render(document);
    toggleCustomDates();
    var period = document.getElementById("f-period");
    if (period) { period.addEventListener("change", toggleCustomDates); }
    var printButton = document.getElementById("print-now");
    if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
  });
  document.addEventListener("htmx:beforeHistorySave", destroyCharts);
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "report-body") { destroyCharts(); }
  });
  document.addEventListener("htmx:afterSettle", function () { render(document); });
  window.addEventListener("beforeprint", function () { charts.forEach(function (chart) { chart.resize(); }); });
})();
