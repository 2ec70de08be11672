// Metric curves of the training dashboard, drawn with the vendored uPlot.
//
// Run page: the live section (#run-live) carries the points after the last id the page had, as
// JSON; every htmx poll swaps in a new copy, and each copy's points are appended to one small
// chart per metric. Compare page: #compare-data holds whole series, one chart per metric with one
// line per run.
(function () {
  "use strict";

  const COLORS = ["#2a62d6", "#d6612a", "#067647", "#9b2ad6", "#b42318", "#0e8a9a"];
  const HEIGHT = 190;

  function readJSON(element) {
    return element ? JSON.parse(element.textContent) : null;
  }

  const order = readJSON(document.getElementById("metric-order")) ||
    { key: [], last: [], hidden: [], hidden_prefixes: [], hidden_suffixes: [] };

  // The same rules as training/selectors_dashboard.py: counters and summaries are not drawn.
  function drawn(name) {
    return !(order.hidden.includes(name) ||
      order.hidden_prefixes.some((prefix) => name.startsWith(prefix)) ||
      order.hidden_suffixes.some((suffix) => name.endsWith(suffix)));
  }

  function rank(name) {
    const key = order.key.indexOf(name);
    if (key >= 0) return [0, key, name];
    return [order.last.includes(name) ? 2 : 1, 0, name];
  }

  // Axis and legend numbers: short, and readable for 3e-6 learning rates and 1e12 FLOPs alike.
  function short(v) {
    if (v == null) return "—";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e4) {
      return new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 3 }).format(v);
    }
    if (a < 1e-3) return v.toExponential(1).replace(".0e", "e").replace("e-", "e−");
    return String(Number(v.toPrecision(4)));
  }

  function before(a, b) {
    const ra = rank(a), rb = rank(b);
    for (let i = 0; i < 3; i++) {
      if (ra[i] < rb[i]) return true;
      if (ra[i] > rb[i]) return false;
    }
    return false;
  }

  function chartWidth(grid) {
    const style = getComputedStyle(grid);
    const columns = style.gridTemplateColumns.split(" ").length || 1;
    const gap = parseFloat(style.columnGap) || 0;
    return Math.max(220, Math.floor((grid.clientWidth - gap * (columns - 1)) / columns) - 2);
  }

  // The x range from the steps themselves (uPlot pads a lone x to 0..2x before asking).
  function stepRange(u) {
    const xs = u.data[0];
    if (!xs || !xs.length) return [0, 1];
    const lo = xs[0], hi = xs[xs.length - 1];
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  }

  function makeChart(grid, name, labels, xLabel) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.metric = name;
    const existing = Array.from(grid.querySelectorAll(".chart"));
    const next = existing.find((other) => before(name, other.dataset.metric));
    grid.insertBefore(box, next || null);
    const empty = grid.querySelector(".charts-empty");
    if (empty) empty.remove();
    const series = [{ label: xLabel || "step" }].concat(labels.map((label, i) => ({
      label: label,
      stroke: COLORS[i % COLORS.length],
      width: 2,
      spanGaps: true,
      value: (u, v) => short(v),
    })));
    const options = {
      title: name,
      width: chartWidth(grid),
      height: HEIGHT,
      // A single step (an evaluation at the end) sits in a narrow window, not at 0..2×step.
      scales: { x: { time: false, range: stepRange } },
      series: series,
      // Rounds are whole numbers: no tick at round 1.5.
      axes: [Object.assign({ label: xLabel || "step", labelSize: 18, size: 36 },
                           xLabel === "round" ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}),
             { size: 60, values: (u, splits) => splits.map(short) }],
      // One line: the title names it. Several (compare): the legend names the runs.
      legend: { show: labels.length > 1, live: true },
      cursor: { drag: { x: true, y: false } },
    };
    const empties = [[]].concat(labels.map(() => []));
    return { box: box, plot: new uPlot(options, empties, box) };
  }

  function resizeAll(grid, charts) {
    const width = chartWidth(grid);
    charts.forEach((chart) => chart.plot.setSize({ width: width, height: HEIGHT }));
  }

  // ---- the run page: one growing series per metric
  function LiveCharts(grid) {
    this.grid = grid;
    this.charts = new Map();
    this.lastId = 0;
    this.count = 0;
    new ResizeObserver(() => resizeAll(grid, this.charts)).observe(grid);
  }

  LiveCharts.prototype.add = function (points) {
    const touched = new Set();
    for (const [id, name, step, value] of points) {
      if (id <= this.lastId) continue; // a poll answered twice: never draw a point twice
      this.lastId = id;
      this.count += 1;
      if (!drawn(name)) continue;
      let chart = this.charts.get(name);
      if (!chart) {
        chart = makeChart(this.grid, name, [name]);
        chart.xs = [];
        chart.ys = [];
        this.charts.set(name, chart);
      }
      const last = chart.xs.length - 1;
      if (last >= 0 && step <= chart.xs[last]) {
        // The same step logged again (an evaluation at the end): keep the newest value.
        const at = chart.xs.lastIndexOf(step);
        if (at >= 0) chart.ys[at] = value;
      } else {
        chart.xs.push(step);
        chart.ys.push(value);
      }
      touched.add(chart);
    }
    touched.forEach((chart) => chart.plot.setData([chart.xs, chart.ys]));
    this.grid.dataset.points = String(this.count);
  };

  let live = null;

  function takeLivePoints(root) {
    const section = root.id === "run-live" ? root : root.querySelector && root.querySelector("#run-live");
    const grid = document.getElementById("live-charts");
    if (!section || !grid || typeof uPlot === "undefined") return;
    if (!live) live = new LiveCharts(grid);
    const data = section.querySelector('script[type="application/json"]');
    live.add(readJSON(data) || []);
  }

  // ---- the compare page: one chart per metric, one line per run; the rounds page: one chart
  // per measure, x = the round (its data names the x axis)
  function drawComparison(gridId, dataId) {
    const grid = document.getElementById(gridId);
    const data = readJSON(document.getElementById(dataId));
    if (!grid || !data) return;
    const charts = [];
    for (const metric of data) {
      const chart = makeChart(grid, metric.name, metric.series.map((s) => s.label), metric.x);
      const tables = metric.series.map((s) => {
        const byStep = new Map(s.points.map(([step, value]) => [step, value]));
        const xs = Array.from(byStep.keys()).sort((a, b) => a - b);
        return [xs, xs.map((x) => byStep.get(x))];
      });
      chart.plot.setData(uPlot.join(tables));
      charts.push(chart);
    }
    grid.dataset.charts = String(charts.length);
    new ResizeObserver(() => resizeAll(grid, charts)).observe(grid);
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawComparison("compare-charts", "compare-data");
    drawComparison("rounds-charts", "rounds-data");
    takeLivePoints(document.body);
    // After every swap (a poll or the cancel answer): take the points of the new copy.
    document.body.addEventListener("htmx:afterSettle", () => {
      const swapped = document.getElementById("run-live");
      if (swapped) takeLivePoints(swapped);
    });
  });
})();
