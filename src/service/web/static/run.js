// A training run (SPEC §5): stage-1 aliasing per epoch with the median threshold, the stop
// epoch and the user's PGD accuracy, drawn with Chart.js; a table holds the same numbers.
// Polls while checkpoints are still being measured.
'use strict';

(() => {
  const { el, getJson, metric, percent, when, fillTable, showSession } = window.aliasAudit;
  const id = decodeURIComponent(window.location.pathname.split('/').filter(Boolean)[1] || '');
  const canvas = document.getElementById('series-chart');
  const COLOURS = { signal: '#0072B2', limit: '#D55E00', median: '#57606a', pgd: '#009E73', stop: '#b91c1c', keep: '#166534' };
  let chart = null;

  /** Vertical dashed lines at the stop epoch and the epoch to keep (no plugin package needed). */
  const epochMarkers = {
    id: 'epochMarkers',
    afterDatasetsDraw(c, _args, opts) {
      const { ctx, chartArea, scales } = c;
      for (const m of opts.markers || []) {
        const index = c.data.labels.indexOf(m.epoch);
        if (index < 0) continue;
        const x = scales.x.getPixelForValue(index);
        ctx.save();
        ctx.strokeStyle = m.colour;
        ctx.fillStyle = m.colour;
        ctx.lineWidth = 2;
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.font = '600 12px system-ui, sans-serif';
        // Labels go on the roomier side of their line, one below the other, so they never clip or overlap.
        const left = x > (chartArea.left + chartArea.right) / 2;
        ctx.textAlign = left ? 'right' : 'left';
        ctx.fillText(m.text, x + (left ? -6 : 6), chartArea.top + 14 + m.row * 18);
        ctx.restore();
      }
    },
  };

  function datasets(run) {
    const signal = run.settings.signal;
    const s = run.series;
    const triggered = s.map((e) => e.triggered === true);
    const sets = [
      {
        label: `stage-1 ${signal}`,
        data: s.map((e) => (e[signal] === undefined ? null : e[signal])),
        borderColor: COLOURS.signal,
        backgroundColor: triggered.map((t) => (t ? COLOURS.stop : COLOURS.signal)),
        pointRadius: triggered.map((t) => (t ? 7 : 4)),
        borderWidth: 2.5,
        yAxisID: 'y',
      },
      {
        label: `stop threshold (1 + ${run.settings.threshold}) × ${run.settings.window === 1 ? 'previous epoch' : 'median'}`,
        data: s.map((e) => (e.limit === undefined ? null : e.limit)),
        borderColor: COLOURS.limit,
        backgroundColor: COLOURS.limit,
        borderDash: [7, 4],
        pointRadius: 0,
        pointStyle: 'line',
        borderWidth: 2,
        yAxisID: 'y',
      },
      {
        label: run.settings.window === 1 ? 'previous epoch' : run.settings.window === 'all' ? 'median of earlier epochs' : `median of the last ${run.settings.window} epochs`,
        data: s.map((e) => (e.median === undefined ? null : e.median)),
        borderColor: COLOURS.median,
        backgroundColor: COLOURS.median,
        borderDash: [2, 3],
        pointRadius: 0,
        pointStyle: 'line',
        borderWidth: 1.5,
        yAxisID: 'y',
      },
    ];
    if (s.some((e) => e.pgdAccuracy !== undefined)) {
      sets.push({
        label: 'PGD accuracy (yours, right axis)',
        data: s.map((e) => (e.pgdAccuracy === undefined ? null : e.pgdAccuracy)),
        borderColor: COLOURS.pgd,
        backgroundColor: COLOURS.pgd,
        pointStyle: 'rectRot',
        pointRadius: 5,
        borderWidth: 2,
        yAxisID: 'y1',
      });
    }
    return sets;
  }

  function markers(run) {
    const d = run.decision;
    if (!d.stop) return [];
    const out = [{ epoch: d.triggeredAtEpoch, colour: COLOURS.stop, text: `stop: jump at epoch ${d.triggeredAtEpoch}`, row: 0 }];
    if (d.recommendedEpoch !== null) out.push({ epoch: d.recommendedEpoch, colour: COLOURS.keep, text: `keep epoch ${d.recommendedEpoch}`, row: 1 });
    return out;
  }

  function drawChart(run) {
    const labels = run.series.map((e) => e.epoch);
    const hasPgd = run.series.some((e) => e.pgdAccuracy !== undefined);
    const config = {
      type: 'line',
      data: { labels, datasets: datasets(run) },
      options: {
        animation: false,
        maintainAspectRatio: false,
        spanGaps: true,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { offset: true, title: { display: true, text: 'epoch' } },
          y: { beginAtZero: true, title: { display: true, text: `stage-1 ${run.settings.signal}` } },
          y1: { display: hasPgd, position: 'right', min: 0, max: 1, grid: { drawOnChartArea: false }, title: { display: true, text: 'PGD accuracy' }, ticks: { callback: (v) => `${Math.round(v * 100)}%` } },
        },
        plugins: {
          // Point styles in the legend: a dashed threshold reads as a line, not as a hatched box.
          legend: { position: 'bottom', labels: { usePointStyle: true, padding: 16 } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.dataset.yAxisID === 'y1' ? percent(ctx.parsed.y) : metric(ctx.parsed.y)}` } },
          epochMarkers: { markers: markers(run) },
        },
      },
      plugins: [epochMarkers],
    };
    if (chart) {
      chart.data = config.data;
      chart.options = config.options;
      chart.update();
    } else {
      chart = new window.Chart(canvas, config);
    }
    const measured = run.series.filter((e) => e[run.settings.signal] !== undefined);
    canvas.setAttribute('aria-label', `Line chart of stage-1 ${run.settings.signal} per epoch: ${measured.map((e) => `epoch ${e.epoch} ${metric(e[run.settings.signal])}`).join(', ') || 'no epoch measured yet'}. ${decisionText(run)} The table below lists the values.`);
  }

  function decisionText(run) {
    const d = run.decision;
    const measured = run.series.filter((e) => e.status === 'succeeded').length;
    if (d.stop) return `Stop: the stage-1 ${run.settings.signal} jumped at epoch ${d.triggeredAtEpoch}; keep the checkpoint of epoch ${d.recommendedEpoch}.`;
    return `No jump so far (${measured} epoch${measured === 1 ? '' : 's'} measured): keep training.`;
  }

  function cell(value, text, key) {
    return el('td', { class: 'num', 'data-key': key, 'data-value': value === undefined || value === null ? '' : value }, text);
  }

  function render(run) {
    document.title = `alias-audit: ${run.name}`;
    document.getElementById('run-name').textContent = run.name;
    document.getElementById('run-sub').textContent = `created ${when(run.createdAt)} · every checkpoint measured on the first ${run.options.samples} CIFAR-10 test images, preprocessing ${run.options.preprocess}`;
    const settings = document.getElementById('run-settings');
    settings.replaceChildren(
      ...[['signal', run.settings.signal], ['threshold t', run.settings.threshold], ['median window', run.settings.window]].map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, String(v)))),
    );
    const decision = document.getElementById('decision');
    decision.className = `decision${run.decision.stop ? ' stop' : ''}`;
    decision.textContent = decisionText(run);
    drawChart(run);
    fillTable(
      document.querySelector('#series-table tbody'),
      run.series.map((e) => el('tr', { 'data-epoch': e.epoch, class: e.triggered ? 'triggered' : undefined },
        el('td', { class: 'num' }, String(e.epoch), e.triggered ? ' (stop)' : ''),
        el('td', {}, el('span', { class: `status-${e.status}` }, e.status), e.status === 'running' || e.status === 'queued' ? ` ${e.progress.percent.toFixed(0)}%` : '', e.error ? `: ${e.error.detail}` : ''),
        cell(e.am, metric(e.am), 'am'),
        cell(e.amRel, metric(e.amRel), 'amRel'),
        cell(e.median, metric(e.median), 'median'),
        cell(e.limit, metric(e.limit), 'limit'),
        cell(e.cleanAccuracy, percent(e.cleanAccuracy), 'cleanAccuracy'),
        cell(e.pgdAccuracy, percent(e.pgdAccuracy), 'pgdAccuracy'),
        el('td', {}, e.status === 'succeeded' ? el('a', { href: e.links.report, 'aria-label': `report of epoch ${e.epoch}` }, 'report') : ''))),
      'No checkpoint posted yet.',
    );
    document.getElementById('json-link').href = `/runs/${encodeURIComponent(run.id)}?format=json`;
  }

  if (window.Chart) window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  async function load() {
    try {
      const run = await getJson(`/runs/${encodeURIComponent(id)}`);
      render(run);
      document.body.dataset.loaded = 'true';
      if (run.series.some((e) => e.status === 'queued' || e.status === 'running')) setTimeout(load, 3000);
    } catch (err) {
      document.getElementById('run-sub').textContent = `Could not load the run: ${err.message}`;
    }
  }

  // Canvas charts keep their screen size unless told to redraw for the page.
  window.addEventListener('beforeprint', () => chart && chart.resize());
  window.addEventListener('afterprint', () => chart && chart.resize());
  showSession();
  load();
})();
