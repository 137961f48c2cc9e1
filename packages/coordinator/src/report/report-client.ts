// The script report.html runs in the browser (as text: render-html.ts inlines it after uPlot): it
// reads the chart specs of report-charts.ts from the page's JSON block and draws each with uPlot,
// event markers as dashed vertical lines with a lettered tag. Each chart's element gets
// data-points (non-null values per series) and window.reportCharts the same, for test/report.test.ts.
export const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var style = report.marker_style;
  var drawn = (window.reportCharts = {});
  var dpr = window.devicePixelRatio || 1;
  var STEP_INCRS = [];
  for (var e = 1; e <= 1e7; e *= 10) STEP_INCRS.push(e, 2 * e, 5 * e);

  function markersPlugin(markers) {
    return {
      hooks: {
        draw: [
          function (u) {
            var ctx = u.ctx, b = u.bbox, stack = {};
            ctx.save();
            ctx.lineWidth = 1.5 * dpr;
            ctx.font = 'bold ' + Math.round(10 * dpr) + 'px sans-serif';
            ctx.textAlign = 'center';
            ctx.textBaseline = 'middle';
            markers.forEach(function (m) {
              var cx = Math.round(u.valToPos(m.x, 'x', true));
              if (!(cx >= b.left - 1 && cx <= b.left + b.width + 1)) return;
              var s = style[m.kind], k = (stack[cx] = (stack[cx] || 0) + 1), size = 13 * dpr;
              ctx.strokeStyle = s.color;
              ctx.setLineDash([4 * dpr, 3 * dpr]);
              ctx.beginPath();
              ctx.moveTo(cx, b.top);
              ctx.lineTo(cx, b.top + b.height);
              ctx.stroke();
              ctx.setLineDash([]);
              var y = b.top + (k - 1) * (size + 2 * dpr);
              ctx.fillStyle = s.color;
              ctx.fillRect(cx - size / 2, y, size, size);
              ctx.fillStyle = '#fff';
              ctx.fillText(s.letter, cx, y + size / 2 + 0.5 * dpr);
            });
            ctx.restore();
          },
        ],
      },
    };
  }

  function fmt(v) {
    if (v == null) return '-';
    var a = Math.abs(v);
    return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(4);
  }

  function seriesOpts(s) {
    var o = { label: s.label, stroke: s.color, width: 1.5, spanGaps: true, value: function (u, v) { return fmt(v); } };
    if (s.dots) {
      o.paths = function () { return null; };
      o.points = { show: true, size: 8, stroke: s.color, fill: s.color };
    }
    if (s.fill) {
      o.fill = s.color;
      o.width = 1;
      o.points = { show: false };
      o.value = function (u, v, si, i) { return i == null ? '-' : fmt(s.raw[i]); };
    }
    return o;
  }

  function draw(spec, el) {
    var counts = {};
    spec.series.forEach(function (s) {
      counts[s.label] = s.values.filter(function (v) { return v != null; }).length;
    });
    drawn[spec.id] = { x: spec.x.length, series: counts, markers: spec.markers.length };
    el.dataset.points = JSON.stringify(counts);
    if (spec.x.length === 0) {
      el.innerHTML = '<p class="empty">No data points: metrics.jsonl has no step events for this chart.</p>';
      return null;
    }
    var stacked = spec.series.some(function (s) { return s.fill; });
    var opts = {
      width: Math.max(320, el.clientWidth),
      height: 260,
      plugins: [markersPlugin(spec.markers)],
      scales: { x: { time: false }, y: stacked ? { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } : {} },
      // Steps are whole numbers: no tick at step 1.5.
      axes: [spec.x_label === 'step' ? { label: spec.x_label, incrs: STEP_INCRS } : { label: spec.x_label }, { label: spec.y_label, size: 60 }],
      series: [{ label: spec.x_label, value: function (u, v) { return fmt(v); } }].concat(spec.series.map(seriesOpts)),
    };
    return new uPlot(opts, [spec.x].concat(spec.series.map(function (s) { return s.values; })), el);
  }

  var plots = [];
  report.charts.forEach(function (spec) {
    var el = document.getElementById('chart-' + spec.id);
    try {
      var u = draw(spec, el);
      if (u) plots.push([u, el]);
    } catch (e) {
      console.error('chart ' + spec.id + ' failed: ' + e);
      el.textContent = 'This chart could not be drawn: ' + e;
    }
  });
  document.body.dataset.chartsDrawn = String(report.charts.length);
  var timer = null;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      plots.forEach(function (p) { p[0].setSize({ width: Math.max(320, p[1].clientWidth), height: 260 }); });
    }, 100);
  });
})();
`;
