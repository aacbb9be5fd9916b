// Shabaka's statistics charts: draws every <canvas data-chart="TABLE_ID"> from the JSON block
// <script type="application/json" id="chart-data"> (chart_data() on the server) with the vendored
// Chart.js. Nothing inline (strict CSP): Chart.js sizes the canvas through the CSSOM only.
// A suppressed cell arrives as null and is drawn as a gap; the table beside the chart has every number.
(function () {
  "use strict";

  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

  function readCharts() {
    var node = document.getElementById("chart-data");
    if (!node) {
      return [];
    }
    try {
      var parsed = JSON.parse(node.textContent || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (error) {
      return [];
    }
  }

  function translucent(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
  }

  function dataset(item, source) {
    var colour = PALETTE[(source.colour || 0) % PALETTE.length];
    var previous = source.period === "previous";
    var out = {
      label: source.label,
      data: source.data,
      borderColor: colour,
      backgroundColor: previous ? translucent(colour, 0.4) : colour,
      borderWidth: previous ? 2 : 1
    };
    if (item.type === "line") {
      out.backgroundColor = colour;
      out.borderWidth = 2;
      out.borderDash = previous ? [6, 4] : [];
      out.fill = false;
      out.spanGaps = false; // a suppressed month stays a gap
      out.tension = 0;
      out.pointRadius = 3;
    }
    if (source.stack) {
      out.stack = source.stack;
    }
    return out;
  }

  function config(item, rtl) {
    var direction = rtl ? "rtl" : "ltr";
    var stacked = Boolean(item.stacked);
    return {
      type: item.type,
      data: {
        labels: item.labels,
        datasets: item.datasets.map(function (source) {
          return dataset(item, source);
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: true,
        plugins: {
          legend: { position: "bottom", rtl: rtl, textDirection: direction },
          tooltip: { rtl: rtl, textDirection: direction },
          title: { display: false }
        },
        scales: {
          x: {
            reverse: rtl,
            stacked: stacked,
            title: { display: Boolean(item.x_label), text: item.x_label }
          },
          y: {
            position: rtl ? "right" : "left",
            stacked: stacked,
            beginAtZero: true,
            ticks: { precision: 0 },
            title: { display: Boolean(item.y_label), text: item.y_label }
          }
        }
      }
    };
  }

  function draw() {
    if (typeof window.Chart !== "function") {
      return;
    }
    var rtl = document.documentElement.dir === "rtl";
    var fontFamily = window.getComputedStyle(document.body).fontFamily;
    if (fontFamily) {
      window.Chart.defaults.font.family = fontFamily;
    }
    var byTable = {};
    readCharts().forEach(function (item) {
      if (item && item.type !== "heatmap" && item.table) {
        byTable[item.table] = item;
      }
    });
    var canvases = document.querySelectorAll("canvas[data-chart]");
    Array.prototype.forEach.call(canvases, function (canvas) {
      var item = byTable[canvas.getAttribute("data-chart")];
      if (!item) {
        return;
      }
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", item.alt || item.title || "");
      if (!canvas.textContent) {
        canvas.textContent = item.alt || "";
      }
      new window.Chart(canvas, config(item, rtl));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
