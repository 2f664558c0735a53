// Helpers shared by the pages (plain browser JavaScript, served as is: no build step).
// Every value from the API goes into the DOM as text, never as HTML.
'use strict';

window.aliasAudit = (() => {
  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  /** GET as JSON; a problem+json answer throws an Error with its detail. */
  async function getJson(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && (body.detail || body.title)) || `${res.status} ${res.statusText}`);
    return body;
  }

  /** An aliasing metric with 3 significant digits, as the report shows it (src/report/format.ts). */
  function metric(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
    if (value === 0) return '0';
    const abs = Math.abs(value);
    return abs >= 1e-3 && abs < 1e5 ? String(Number(value.toPrecision(3))) : value.toExponential(2);
  }

  function percent(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
    return `${(value * 100).toFixed(1)}%`;
  }

  /**
   * A job's progress as every part of the pages shows it (the progress panel and the list of
   * audits use this one function, so they cannot disagree): a whole percent and a line of text.
   */
  function progressOf(status, progress) {
    const p = progress || {};
    const percent = Math.round(Math.max(0, Math.min(100, Number(p.percent) || 0)));
    const text = `${status ? `${status}: ` : ''}${p.stage || status || ''}${p.message ? ` (${p.message})` : ''}`;
    return { percent, text };
  }

  /** A timestamp as local date and time, short. */
  function when(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** Replaces a table body's rows, or shows one row with a message. */
  function fillTable(tbody, rows, empty) {
    tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: tbody.parentElement.querySelectorAll('thead th').length }, empty))]));
  }

  /**
   * Who the page acts for (GET /session), once per page: with API keys on, a signed-in session
   * and its CSRF token, which every state-changing request sends in a header (sessionHeaders).
   */
  let sessionInfo = null;
  function session() {
    sessionInfo = sessionInfo || getJson('/session').catch(() => ({ authentication: 'none' }));
    return sessionInfo;
  }

  /** Headers for a POST or DELETE from the page: the session's CSRF token when it has one. */
  async function sessionHeaders(headers) {
    const s = await session();
    return s.csrfToken ? { ...headers, 'X-CSRF-Token': s.csrfToken } : { ...headers };
  }

  /** Shows "tenant · Sign out" in the page's header when signed in with a session cookie. */
  async function showSession() {
    const s = await session();
    const nav = document.querySelector('header.top nav');
    if (s.authentication !== 'session' || !nav) return;
    const out = el('button', { type: 'button', id: 'signout' }, 'Sign out');
    out.addEventListener('click', async () => {
      out.disabled = true;
      await fetch('/session', { method: 'DELETE', headers: await sessionHeaders({}) }).catch(() => null);
      window.location.assign('/');
    });
    nav.append(el('span', { class: 'session', id: 'session-info' }, el('span', { id: 'session-tenant' }, `signed in: ${s.tenant}${s.admin ? ' (admin)' : ''}`), out));
  }

  return { el, getJson, metric, percent, progressOf, when, fillTable, session, sessionHeaders, showSession };
})();
