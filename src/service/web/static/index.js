// The upload page: pick or drop a model, POST /audit, follow /audits/{id}/events, then open
// the report; below, the recent audits and training runs. The form's defaults and choices are
// filled in by the server from the options the CLI and the API share.
'use strict';

(() => {
  const { el, getJson, metric, percent, progressOf, when, fillTable, sessionHeaders, showSession } = window.aliasAudit;
  const form = document.getElementById('upload-form');
  const fileInput = document.getElementById('model-file');
  const drop = document.getElementById('drop-zone');
  const chosen = document.getElementById('chosen-file');
  const submit = document.getElementById('submit');
  const formError = document.getElementById('form-error');
  const progressSection = document.getElementById('progress-section');
  const progressText = document.getElementById('progress-text');
  const progressBar = document.getElementById('progress-bar');
  const progressPercent = document.getElementById('progress-percent');
  const progressLinks = document.getElementById('progress-links');

  function showChosen() {
    const f = fileInput.files && fileInput.files[0];
    chosen.textContent = f ? `${f.name} (${(f.size / 1024).toFixed(0)} kB)` : '';
  }

  fileInput.addEventListener('change', showChosen);
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) {
      fileInput.files = e.dataTransfer.files;
      showChosen();
    }
  });

  function showError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  /** The audits listed below, by id, as last listed (or updated by the followed audit's events). */
  const listed = new Map();
  /** The audit this page follows, while it is queued or running: its events are newer than the list. */
  let followed = null;
  /** The next refresh of the list while some audit in it is queued or running. */
  let refresh = null;
  const REFRESH_MS = 2000;

  /** Shows the followed audit's progress in the panel and in its row of the list, from the same data. */
  function showProgress(id, status, progress) {
    const p = progressOf(status, progress);
    progressBar.value = p.percent;
    progressPercent.textContent = `${p.percent}%`;
    progressText.textContent = p.text;
    if (!id) return;
    followed = { id, status, progress };
    const item = listed.get(id);
    const row = document.querySelector(`#audits-table tr[data-id="${CSS.escape(id)}"]`);
    if (item && row) row.replaceWith(auditRow({ ...item, status, progress }));
  }

  /** The form's options as POST /audit fields; attack options only when attacks are asked for. */
  function formData() {
    const data = new FormData();
    data.set('model', fileInput.files[0]);
    const value = (id) => document.getElementById(id).value.trim();
    const robustness = value('opt-robustness');
    const fields = { samples: value('opt-samples'), preprocess: value('opt-preprocess'), robustness, batch: value('opt-batch'), ep: value('opt-ep') };
    if (robustness !== 'none') Object.assign(fields, { eps: value('opt-eps'), attackSamples: value('opt-attack-samples'), seed: value('opt-seed') });
    for (const [k, v] of Object.entries(fields)) if (v !== '') data.set(k, v);
    if (document.getElementById('opt-force').checked) data.set('force', 'true');
    return data;
  }

  function openReport(id) {
    showProgress(id, 'succeeded', { percent: 100, stage: 'done', message: 'opening the report' });
    window.location.assign(`/audits/${id}/report`);
  }

  /** Follows the job's events until it ends; falls back to polling if the stream breaks. */
  function follow(id) {
    progressLinks.replaceChildren('Job ', el('a', { href: `/audits/${id}` }, id), ' · the report will be at ', el('a', { href: `/audits/${id}/report` }, `/audits/${id}/report`));
    let finished = false;
    const done = (job) => {
      finished = true;
      submit.disabled = false;
      if (job.status === 'succeeded') return openReport(id);
      const detail = job.error ? job.error.detail : `the audit was ${job.status}`;
      followed = null;
      progressText.textContent = `failed: ${detail}`;
      loadAudits();
      showError(`The audit failed: ${detail}`);
    };
    const events = new EventSource(`/audits/${id}/events`);
    events.addEventListener('status', (e) => {
      const job = JSON.parse(e.data);
      showProgress(id, job.status, job.progress);
    });
    events.addEventListener('progress', (e) => showProgress(id, 'running', JSON.parse(e.data)));
    events.addEventListener('done', (e) => {
      events.close();
      done(JSON.parse(e.data));
    });
    events.onerror = () => {
      if (finished || events.readyState !== EventSource.CLOSED) return;
      const poll = async () => {
        const job = await getJson(`/audits/${id}`).catch(() => null);
        if (job && (job.status === 'succeeded' || job.status === 'failed')) return done(job);
        if (job) showProgress(id, job.status, job.progress);
        setTimeout(poll, 1000);
      };
      poll();
    };
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.hidden = true;
    if (!fileInput.files || fileInput.files.length === 0) {
      showError('Choose an ONNX model file first (or drop one on the box).');
      fileInput.focus();
      return;
    }
    submit.disabled = true;
    progressSection.hidden = false;
    showProgress(null, '', { percent: 0, stage: 'uploading', message: fileInput.files[0].name });
    try {
      const res = await fetch('/audit', { method: 'POST', body: formData(), headers: await sessionHeaders({ Accept: 'application/json' }) });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.detail || body.title || `${res.status} ${res.statusText}`);
      if (body.status === 'succeeded') return openReport(body.id);
      showProgress(body.id, body.status, body.progress);
      follow(body.id);
      loadAudits();
    } catch (err) {
      submit.disabled = false;
      progressText.textContent = `not started: ${err.message}`;
      showError(`The upload was refused: ${err.message}`);
    }
  });

  /** An audit's headline results (GET /audits items carry them once it succeeded). */
  function resultsText(results) {
    if (!results) return '';
    const parts = [`clean ${percent(results.cleanAccuracy)}`, `worst amRel ${metric(results.worstAmRel)}`];
    if (results.robustAccuracy !== null) parts.push(`robust ${percent(results.robustAccuracy)}`);
    return parts.join(', ');
  }

  function auditRow(j) {
    const name = j.model.filename || `${j.model.sha256.slice(0, 12)}…`;
    const status = el('span', { class: `status-${j.status}` }, j.status);
    const active = j.status === 'running' || j.status === 'queued';
    const p = progressOf(j.status, j.progress);
    const extra = active ? el('span', { class: 'row-progress', title: p.text }, ` ${p.percent}%`) : null;
    const report = j.status === 'succeeded'
      ? el('a', { href: j.links.report, 'aria-label': `report of ${name}` }, 'report')
      : j.status === 'failed' ? el('span', {}, j.error ? j.error.detail : 'failed') : el('a', { href: j.links.report }, 'progress');
    return el('tr', { 'data-id': j.id },
      el('td', {}, el('code', {}, name)),
      el('td', {}, status, extra),
      el('td', {}, resultsText(j.results)),
      el('td', {}, when(j.createdAt)),
      el('td', {}, report));
  }

  async function loadAudits() {
    clearTimeout(refresh);
    const tbody = document.querySelector('#audits-table tbody');
    try {
      const { items } = await getJson('/audits?limit=10');
      listed.clear();
      for (const j of items) listed.set(j.id, j);
      // The followed audit's events are at least as new as the list (which the server writes less often).
      const shown = items.map((j) => (followed && followed.id === j.id && (j.status === 'queued' || j.status === 'running') ? { ...j, status: followed.status, progress: followed.progress } : j));
      fillTable(tbody, shown.map(auditRow), 'No audits yet: upload a model above.');
      if (items.some((j) => j.status === 'queued' || j.status === 'running')) refresh = setTimeout(loadAudits, REFRESH_MS);
    } catch (err) {
      fillTable(tbody, [], `Could not list the audits: ${err.message}`);
    }
  }

  async function loadRuns() {
    const tbody = document.querySelector('#runs-table tbody');
    try {
      const { items } = await getJson('/runs?limit=10');
      fillTable(
        tbody,
        items.map((r) => el('tr', { 'data-id': r.id },
          el('td', {}, el('a', { href: r.links.self }, r.name)),
          el('td', { class: 'num' }, String(r.checkpoints)),
          el('td', {}, `${r.settings.signal}, t = ${r.settings.threshold}, window ${r.settings.window}`),
          el('td', {}, when(r.createdAt)))),
        'No training runs yet.',
      );
    } catch (err) {
      fillTable(tbody, [], `Could not list the runs: ${err.message}`);
    }
  }

  showSession();
  loadAudits();
  loadRuns();
})();
