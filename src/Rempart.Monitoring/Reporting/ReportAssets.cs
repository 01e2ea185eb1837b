namespace Rempart.Monitoring.Reporting;

/// <summary>
/// The report page's only script and stylesheet, served from this server (/report/report.js, /report/report.css):
/// no CDN, no build step, nothing fetched from the internet. The script polls /api/report/stats and draws each chart
/// as inline SVG built through the DOM; data from the server is only ever set as text, never parsed as HTML.
/// </summary>
public static class ReportAssets
{
    public const string Script = """
        // Rempart report page: polls /api/report/stats and draws SVG line charts. No dependencies.
        (function () {
          'use strict';
          var SVGNS = 'http://www.w3.org/2000/svg';
          var POLL_MS = 2000;
          var range = 'fine';
          var last = null;

          function byId(id) { return document.getElementById(id); }

          function fmt(n) {
            if (n === null || n === undefined || isNaN(n)) { return '-'; }
            if (Math.abs(n) >= 1e6) { return (n / 1e6).toFixed(1) + 'M'; }
            if (Math.abs(n) >= 1e4) { return (n / 1e3).toFixed(1) + 'k'; }
            return (Math.round(n * 10) / 10).toString();
          }

          function two(n) { return (n < 10 ? '0' : '') + n; }

          function clock(ms) {
            var d = new Date(ms);
            return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
          }

          function make(name, attrs, text) {
            var e = document.createElementNS(SVGNS, name);
            for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, String(attrs[k])); } }
            if (text !== undefined) { e.textContent = text; }
            return e;
          }

          function html(name, cls, text) {
            var e = document.createElement(name);
            if (cls) { e.className = cls; }
            if (text !== undefined) { e.textContent = text; }
            return e;
          }

          function niceMax(v) {
            if (v <= 1) { return 1; }
            var p = Math.pow(10, Math.floor(Math.log10(v)));
            var steps = [1, 2, 5, 10];
            for (var i = 0; i < steps.length; i++) { if (steps[i] * p >= v) { return steps[i] * p; } }
            return 10 * p;
          }

          function seriesIndex(stats, name) {
            for (var i = 0; i < stats.series.length; i++) { if (stats.series[i].name === name) { return i; } }
            return -1;
          }

          function drawChart(fig, stats) {
            var names = fig.getAttribute('data-series').split(',');
            var t = stats.points.t;
            var W = 600, H = 170, L = 44, R = 8, T = 8, B = 22;
            var max = 0;
            var cols = names.map(function (n) { var i = seriesIndex(stats, n); return i < 0 ? [] : stats.points.v[i]; });
            cols.forEach(function (c) { c.forEach(function (v) { if (v > max) { max = v; } }); });
            max = niceMax(max);
            var svg = make('svg', { viewBox: '0 0 ' + W + ' ' + H, 'class': 'svgchart', role: 'img', 'aria-label': fig.querySelector('figcaption').textContent });
            [0, 0.5, 1].forEach(function (f) {
              var y = T + (H - T - B) * (1 - f);
              svg.appendChild(make('line', { x1: L, x2: W - R, y1: y, y2: y, 'class': 'grid' }));
              svg.appendChild(make('text', { x: L - 4, y: y + 4, 'class': 'axis', 'text-anchor': 'end' }, fmt(max * f)));
            });
            if (t.length > 0) {
              svg.appendChild(make('text', { x: L, y: H - 6, 'class': 'axis' }, clock(t[0])));
              svg.appendChild(make('text', { x: W - R, y: H - 6, 'class': 'axis', 'text-anchor': 'end' }, clock(t[t.length - 1])));
            }
            var t0 = t.length ? t[0] : 0, span = t.length > 1 ? t[t.length - 1] - t0 : 1;
            // Drawn last to first so the first series (the one the chart is about) stays on top where lines overlap.
            cols.slice().reverse().forEach(function (c, r) {
              var k = cols.length - 1 - r;
              var pts = [];
              for (var i = 0; i < c.length; i++) {
                var x = L + (W - L - R) * (t.length > 1 ? (t[i] - t0) / span : 1);
                var y = T + (H - T - B) * (1 - c[i] / max);
                pts.push(x.toFixed(1) + ',' + y.toFixed(1));
              }
              svg.appendChild(make('polyline', { points: pts.join(' '), 'class': 'line s' + k, 'data-series': names[k] }));
            });
            var plot = fig.querySelector('.plot');
            plot.replaceChildren(svg);

            var legend = fig.querySelector('.legend');
            legend.replaceChildren();
            names.forEach(function (n, k) {
              var i = seriesIndex(stats, n);
              if (i < 0) { return; }
              var c = stats.points.v[i];
              var gauge = stats.series[i].kind === 'gauge';
              var sum = 0;
              c.forEach(function (v) { sum += v; });
              var item = html('span', 'item');
              item.appendChild(html('span', 'sw s' + k));
              item.appendChild(document.createTextNode(stats.series[i].label + ': '));
              var num = html('strong', '', gauge ? fmt(c.length ? c[c.length - 1] : 0) : fmt(sum));
              num.id = 'sum-' + n;
              num.setAttribute('data-value', String(gauge ? (c.length ? c[c.length - 1] : 0) : sum));
              item.appendChild(num);
              item.appendChild(document.createTextNode(gauge ? ' now' : ' in view'));
              legend.appendChild(item);
            });
          }

          function fillTop(id, rows) {
            var body = byId(id);
            if (!body) { return; }
            body.replaceChildren();
            if (!rows.length) {
              var tr = html('tr');
              var td = html('td', 'empty', 'no mail in the window');
              td.colSpan = 2;
              tr.appendChild(td);
              body.appendChild(tr);
            }
            rows.forEach(function (r) {
              var tr = html('tr');
              tr.appendChild(html('td', '', r.address));
              tr.appendChild(html('td', 'n', String(r.messages)));
              body.appendChild(tr);
            });
          }

          function fillHealth(h) {
            var box = byId('health');
            if (!box) { return; }
            box.replaceChildren();
            if (!h.running) {
              var p = html('p', 'state-Unknown', 'health model not running');
              p.id = 'health-missing';
              box.appendChild(p);
              return;
            }
            var head = html('p', '', 'Overall ');
            head.appendChild(html('span', 'badge state-' + h.overall, h.overall));
            box.appendChild(head);
            var sets = html('div', 'sets');
            h.sets.forEach(function (s) {
              var b = html('span', 'badge set state-' + s.state, s.name + ': ' + s.state);
              b.setAttribute('data-set', s.name);
              sets.appendChild(b);
            });
            box.appendChild(sets);
            var table = html('table', 'health');
            var thead = html('thead');
            var hr = html('tr');
            ['Set', 'Monitor', 'State', 'Since', 'Detail'].forEach(function (c) { hr.appendChild(html('th', '', c)); });
            thead.appendChild(hr);
            table.appendChild(thead);
            var tbody = html('tbody');
            h.monitors.forEach(function (m) {
              var tr = html('tr', 'state-' + m.state);
              [m.healthSet, m.monitor, m.state, new Date(m.since).toISOString().replace('T', ' ').slice(0, 19), m.detail]
                .forEach(function (c) { tr.appendChild(html('td', '', c)); });
              tbody.appendChild(tr);
            });
            table.appendChild(tbody);
            box.appendChild(table);
          }

          function render(stats) {
            last = stats;
            Array.prototype.forEach.call(document.querySelectorAll('figure.chart'), function (f) { drawChart(f, stats); });
            stats.series.forEach(function (s) {
              var e = byId('total-' + s.name);
              if (e) { e.textContent = fmt(stats.totals[s.name]); e.setAttribute('data-value', String(stats.totals[s.name])); }
            });
            fillTop('top-senders', stats.top.senders);
            fillTop('top-recipients', stats.top.recipients);
            fillHealth(stats.health);
            byId('updated').textContent = clock(Date.parse(stats.at));
          }

          function poll() {
            var url = '/api/report/stats?range=' + range + '&points=' + (range === 'coarse' ? 1440 : 450);
            fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { 'Accept': 'application/json' } })
              .then(function (r) {
                if (r.status === 401) { window.location.assign('/report/login'); throw new Error('signed out'); }
                if (!r.ok) { throw new Error('HTTP ' + r.status); }
                return r.json();
              })
              .then(function (s) { render(s); byId('status').textContent = ''; byId('status').className = ''; })
              .catch(function (e) { byId('status').textContent = '(' + e.message + ')'; byId('status').className = 'error'; })
              .finally(function () { window.setTimeout(poll, POLL_MS); });
          }

          document.addEventListener('DOMContentLoaded', function () {
            var sel = byId('range');
            if (sel) { sel.addEventListener('change', function () { range = sel.value; if (last) { poll(); } }); }
            poll();
          });
        })();
        """;

    public const string Style = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
        header { display: flex; justify-content: space-between; align-items: center; padding: .5rem 1rem; background: #1d2330; color: #fff; }
        header a { color: #fff; text-decoration: none; margin-right: 1rem; }
        header h1 { font-size: 1.2rem; margin: 0; }
        nav .user { opacity: .8; margin-right: .5rem; }
        form.inline { display: inline; }
        main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
        section { margin-bottom: 1.2rem; }
        .meta { color: #555; }
        .error { color: #b00020; font-weight: 600; }
        .hint { color: #666; font-size: .9rem; }
        .login { max-width: 420px; margin: 3rem auto; background: #fff; padding: 1.5rem; border-radius: 8px; }
        .login label { display: block; margin: .6rem 0; }
        .login input { width: 100%; padding: .4rem; box-sizing: border-box; }
        button { padding: .35rem .9rem; cursor: pointer; }
        .totals { display: flex; flex-wrap: wrap; gap: .5rem; }
        .total { background: #fff; border-radius: 6px; padding: .4rem .7rem; min-width: 7rem; }
        .total .num { display: block; font-size: 1.4rem; font-weight: 700; }
        .total .lbl { font-size: .75rem; color: #555; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: .8rem; }
        figure.chart { background: #fff; margin: 0; padding: .5rem; border-radius: 6px; }
        figcaption { font-weight: 600; }
        svg.svgchart { width: 100%; height: auto; }
        .grid { stroke: #e3e5ea; stroke-width: 1; }
        .axis { font-size: 10px; fill: #666; }
        .line { fill: none; stroke-width: 1.8; }
        .s0 { stroke: #2b6cb0; background: #2b6cb0; }
        .s1 { stroke: #2f855a; background: #2f855a; }
        .s2 { stroke: #c05621; background: #c05621; }
        .s3 { stroke: #6b46c1; background: #6b46c1; }
        .legend .item { margin-right: 1rem; font-size: .85rem; white-space: nowrap; }
        .sw { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
        .tables { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e3e5ea; font-size: .9rem; overflow-wrap: anywhere; }
        td.n { text-align: right; }
        .empty { color: #777; }
        .badge { display: inline-block; padding: .1rem .5rem; border-radius: 1rem; margin: .1rem; font-weight: 600; }
        .state-Healthy { background: #c6f6d5; }
        .state-Degraded { background: #feebc8; }
        .state-Unhealthy { background: #fed7d7; }
        .state-Unknown { background: #e2e8f0; }
        article.trace { background: #fff; padding: .5rem; margin: .6rem 0; border-radius: 6px; }
        article.trace h3 { font-size: 1rem; margin: .2rem 0; }
        """;
}
