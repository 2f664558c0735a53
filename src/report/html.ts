/**
 * The audit report as one self-contained HTML page for people (used by `alias-audit audit
 * --html` and the service's `/audits/{id}/report`): aliasing per downsampling op grouped by
 * stage, the layers, robustness with sample images and the perturbation spectrum, and the raw
 * JSON. A pure function of the report: no script, no external file, inline SVG charts, so it
 * opens offline, passes a strict Content-Security-Policy and prints as it looks.
 */
import type { AuditReport } from '../audit/report.js';
import { BarGroup, groupedBarChart, stageColour } from './charts.js';
import { esc, metric, percent, shape, shortNodeName } from './format.js';
import { robustnessSection } from './robustnessSection.js';
import { REPORT_CSS } from './style.js';

/** What the page knows besides the report: where it is served, and under which name. */
export interface ReportPageOptions {
  /** The model's file name for the title (the report itself knows only the model's hash). */
  modelName?: string;
  /** Where the raw JSON is served (the service); the JSON is embedded in the page as well. */
  jsonHref?: string;
  /** Links in the page's header (back into the service); none in a stand-alone file. */
  nav?: { label: string; href: string }[];
}

/** Renders the report page. Everything from the report is escaped; the result is a full document. */
export function renderReportHtml(report: AuditReport, options: ReportPageOptions = {}): string {
  const title = options.modelName ? `${options.modelName}: alias-audit report` : `alias-audit report ${report.model.sha256.slice(0, 12)}`;
  const nav = options.nav?.length
    ? `<header class="top"><nav aria-label="service"><a class="brand" href="${esc(options.nav[0].href)}">alias-audit</a>${options.nav
        .map((l) => `<a href="${esc(l.href)}">${esc(l.label)}</a>`)
        .join('')}</nav></header>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<style>${REPORT_CSS}</style>
</head>
<body>
<a class="skip" href="#content">Skip to the report</a>
${nav}
<main id="content">
${summarySection(report, options)}
${aliasingSection(report)}
${layersSection(report)}
${robustnessSection(report.robustness)}
${rawJsonSection(report, options.jsonHref)}
<footer>${esc(report.tool.name)} ${esc(report.tool.version)} · measurement as in Grabinski, Keuper &amp; Keuper, “Aliasing and adversarial robust generalization of CNNs” (2022) · audit took ${esc(report.timings.totalSeconds.toFixed(1))} s</footer>
</main>
</body>
</html>
`;
}

function stat(label: string, field: string, value: number | null | undefined, shown: string): string {
  return `<div><dt>${esc(label)}</dt><dd data-field="${esc(field)}"${value === null || value === undefined ? '' : ` data-value="${value}"`}>${esc(shown)}</dd></div>`;
}

function summarySection(report: AuditReport, options: ReportPageOptions): string {
  const pre = report.dataset.preprocessing;
  const stage1 = report.stages[0];
  const r = report.robustness;
  const stats = [
    stat('Clean accuracy', 'cleanAccuracy', report.cleanAccuracy, percent(report.cleanAccuracy)),
    stat('Stage-1 amRel', 'stage1.amRel', stage1?.amRel, metric(stage1?.amRel)),
    stat('Stage-1 am', 'stage1.am', stage1?.am, metric(stage1?.am)),
    stat('Downsampling ops', 'downsampling.length', report.downsampling.length, String(report.downsampling.length)),
    ...(r
      ? [
          stat(`Robust accuracy (ε ${r.epsText})`, 'robustness.robustAccuracy', r.robustAccuracy, percent(r.robustAccuracy)),
          ...(r.perturbationSpectrum
            ? [stat('High-frequency perturbation', 'robustness.perturbationSpectrum.highFrequencyShare', r.perturbationSpectrum.highFrequencyShare, percent(r.perturbationSpectrum.highFrequencyShare))]
            : []),
        ]
      : []),
  ];
  const flags = [...report.flags, ...thresholdLines(report)];
  return `<h1>${esc(options.modelName ?? 'Aliasing and robustness report')}</h1>
<p class="sub">model sha256 <code>${esc(report.model.sha256.slice(0, 16))}…</code> · ${esc(report.model.producer || 'unknown producer')} · opset ${report.model.opset} · input <code>${esc(report.model.input.name)}</code> ${esc(shape(report.model.input.shape))} (${esc(report.model.input.layout)})<br>
first ${report.dataset.samples} CIFAR-10 test images · preprocessing ${esc(pre.name)} (${esc(pre.chosenBy)}) · ${esc(report.executionProvider.used)}</p>
<section aria-labelledby="summary-h"><h2 id="summary-h">Summary</h2>
<dl class="stats">${stats.join('')}</dl>
${candidatesLine(report)}
${flags.length ? `<ul class="flags" aria-label="flags">${flags.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '<p class="note">No flags: nothing in this audit looks unreliable.</p>'}
</section>`;
}

/** How each preprocessing scored (the report keeps them for every choice), the one used marked. */
function candidatesLine(report: AuditReport): string {
  const pre = report.dataset.preprocessing;
  const candidates = pre.candidates ?? [];
  if (candidates.length === 0) return '';
  // a preset that could no longer change the choice or the check was scored on fewer images
  const most = Math.max(...candidates.map((c) => c.samples));
  const items = candidates.map((c) => {
    const fewer = c.samples < most ? ` (first ${c.samples})` : '';
    return `<span data-candidate="${esc(c.name)}" data-value="${c.accuracy}">${c.name === pre.name ? '<strong>' : ''}${esc(c.name)} ${esc(percent(c.accuracy))}${fewer}${c.name === pre.name ? ' (used)</strong>' : ''}</span>`;
  });
  const stopped = most > Math.min(...candidates.map((c) => c.samples)) ? '; a preset stops being scored once it can no longer change the outcome' : '';
  return `<p class="note" id="preprocessing-candidates">Clean accuracy by preprocessing on the first ${most} images: ${items.join(', ')}${stopped}.</p>`;
}

function thresholdLines(report: AuditReport): string[] {
  const lines: string[] = [];
  const am = report.thresholds?.maxAmRel;
  if (am) lines.push(`threshold maxAmRel ${am.limit}: ${am.passed ? 'passed' : am.worst === null ? `failed (${am.reason ?? 'nothing measured'})` : `failed (${metric(am.worst)} at ${am.worstNode})`}`);
  const ra = report.thresholds?.minRobustAccuracy;
  if (ra) lines.push(`threshold minRobustAccuracy ${ra.limit}: ${ra.passed ? 'passed' : `failed (${percent(ra.value)})`}`);
  return lines;
}

/** Bars per op, grouped by stage in graph order, with the stage means of the report. */
function barGroups(report: AuditReport, key: 'am' | 'amRel'): BarGroup[] {
  const groups = new Map<number, BarGroup>();
  report.downsampling.forEach((op, i) => {
    let g = groups.get(op.stage);
    if (!g) {
      const s = report.stages.find((st) => st.stage === op.stage);
      const res = s ? `${s.resolution[0]}×${s.resolution[1]}` : shape(op.outputShape.slice(-2));
      g = { stage: op.stage, label: `stage ${op.stage} · ${res}`, mean: s ? s[key] : null, bars: [] };
      groups.set(op.stage, g);
    }
    g.bars.push({
      label: `#${i + 1}`,
      sublabel: `${op.op} ${op.kernel[0]}×${op.kernel[1]}`,
      title: `#${i + 1} ${op.node} (${op.op} ${op.kernel[0]}×${op.kernel[1]}, stride ${op.stride.join('×')}): ${key} ${metric(op[key])}`,
      node: op.node,
      value: op.error ? null : op[key],
    });
  });
  return [...groups.values()];
}

function aliasingSection(report: AuditReport): string {
  if (report.downsampling.length === 0) {
    return `<section aria-labelledby="aliasing-h"><h2 id="aliasing-h">Aliasing per downsampling op</h2><p>The model has no strided Conv, MaxPool or AveragePool: there is nothing to measure.</p>${unsupportedList(report)}</section>`;
  }
  const legend = `<div class="legend" aria-hidden="true">${report.stages
    .map((s) => `<span><span class="swatch" style="background:${stageColour(s.stage)}"></span>stage ${s.stage} (${s.resolution[0]}×${s.resolution[1]})</span>`)
    .join('')}<span><span class="dash"></span>stage mean</span></div>`;
  const amRel = groupedBarChart(barGroups(report, 'amRel'), {
    metric: 'amRel',
    yMax: 1,
    ariaLabel: `Bar chart: amRel, the share of each downsampling op's output spectrum that is alias, per op grouped by stage; ${report.stages.map((s) => `stage ${s.stage} mean ${metric(s.amRel)}`).join(', ')}. The table below lists every value.`,
  });
  const am = groupedBarChart(barGroups(report, 'am'), {
    metric: 'am',
    ariaLabel: `Bar chart: am, the paper's aliasing measure, per op grouped by stage; ${report.stages.map((s) => `stage ${s.stage} mean ${metric(s.am)}`).join(', ')}. The table below lists every value.`,
  });
  const rows = report.downsampling
    .map(
      (op, i) => `<tr data-node="${esc(op.node)}"><td class="num">${i + 1}</td><td><code title="${esc(op.node)}">${esc(shortNodeName(op.node))}</code></td><td>${esc(op.op)} ${op.kernel[0]}×${op.kernel[1]} /${op.stride[0]}</td>` +
        `<td>${esc(shape(op.inputShape))} → ${esc(shape(op.outputShape))}</td><td class="num">${op.stage}</td>` +
        `<td class="num" data-key="am" data-value="${op.am ?? ''}">${esc(metric(op.am))}</td><td class="num" data-key="amRel" data-value="${op.amRel ?? ''}">${esc(metric(op.amRel))}</td>` +
        `<td class="num" data-key="aliasEnergy" data-value="${op.aliasEnergy ?? ''}">${esc(metric(op.aliasEnergy))}</td><td>${op.error ? `<span class="wrong">${esc(op.error)}</span>` : op.twinCheck?.ok ? 'ok' : 'n/a'}</td></tr>`,
    )
    .join('');
  const stageRows = report.stages
    .map(
      (s) => `<tr data-stage="${s.stage}"><td class="num">${s.stage}</td><td>${s.resolution[0]}×${s.resolution[1]}</td><td class="num">${s.ops.length}</td>` +
        `<td class="num" data-key="am" data-value="${s.am}">${esc(metric(s.am))}</td><td class="num" data-key="amRel" data-value="${s.amRel}">${esc(metric(s.amRel))}</td><td class="num" data-key="aliasEnergy" data-value="${s.aliasEnergy}">${esc(metric(s.aliasEnergy))}</td></tr>`,
    )
    .join('');
  return `<section aria-labelledby="aliasing-h"><h2 id="aliasing-h">Aliasing per downsampling op</h2>
<p class="note"><strong>amRel</strong>: the share of an op's output spectrum that is alias (0 for an alias-free op, comparable across layers and models; the axis is 0 to 1 in every report). <strong>am</strong>: the paper's absolute measure, which also grows with the scale of the activations. Lower is less aliasing.</p>
${legend}
<div class="charts two">
<figure id="chart-amRel">${amRel}<figcaption>amRel per downsampling op (#n as in the table), bars coloured by stage, dashed: stage mean.</figcaption></figure>
<figure id="chart-am">${am}<figcaption>am per downsampling op, dashed: stage mean.</figcaption></figure>
</div>
<table id="ops-table"><caption>Every downsampling op in graph order (the charts' data).</caption>
<thead><tr><th scope="col" class="num">#</th><th scope="col">node</th><th scope="col">op</th><th scope="col">input → output</th><th scope="col" class="num">stage</th><th scope="col" class="num">am</th><th scope="col" class="num">amRel</th><th scope="col" class="num">aliasEnergy</th><th scope="col">twin check</th></tr></thead>
<tbody>${rows}</tbody></table>
<table id="stages-table"><caption>Stages: ops of one output resolution; their means are the paper's per-layer values.</caption>
<thead><tr><th scope="col" class="num">stage</th><th scope="col">resolution</th><th scope="col" class="num">ops</th><th scope="col" class="num">am</th><th scope="col" class="num">amRel</th><th scope="col" class="num">aliasEnergy</th></tr></thead>
<tbody>${stageRows}</tbody></table>
${unsupportedList(report)}
</section>`;
}

function unsupportedList(report: AuditReport): string {
  if (report.unsupported.length === 0) return '';
  return `<h3>Downsampling we cannot measure</h3><ul>${report.unsupported.map((u) => `<li><code>${esc(u.node)}</code> (${esc(u.op)}): ${esc(u.reason)}</li>`).join('')}</ul>`;
}

/** The layers from input to logits as a flow of chips, the strided ops marked with stage and amRel. */
function layersSection(report: AuditReport): string {
  const graph = report.graph;
  if (!graph) return '';
  const strided = new Map(report.downsampling.map((d, i) => [d.node, { d, i }]));
  const chips = graph.nodes.map((n) => {
    const hit = strided.get(n.name);
    if (!hit) {
      return `<li><span class="chip" title="${esc(n.name)}">${esc(n.op)}${n.outputShape ? `<small>${esc(shape(n.outputShape))}</small>` : ''}</span></li>`;
    }
    const { d, i } = hit;
    const colour = stageColour(d.stage);
    const label = `#${i + 1} ${d.op} ${d.kernel[0]}×${d.kernel[1]} /${d.stride[0]}, stage ${d.stage}, ${shape(d.inputShape)} to ${shape(d.outputShape)}, amRel ${metric(d.amRel)}`;
    return `<li class="ds" data-node="${esc(d.node)}"><span class="chip ds" style="border-color:${colour}" title="${esc(d.node)}" aria-label="${esc(`downsampling op ${label}`)}">#${i + 1} ${esc(d.op)} ${d.kernel[0]}×${d.kernel[1]} /${d.stride[0]}<small>→ ${esc(shape(d.outputShape))} · amRel ${esc(metric(d.amRel))}</small></span></li>`;
  });
  const input = `<li><span class="chip io">input ${esc(shape(report.model.input.shape))}</span></li>`;
  const logits = `<li><span class="chip io">logits</span></li>`;
  return `<section aria-labelledby="layers-h"><h2 id="layers-h">Layers, input to logits</h2>
<p class="note">The model's ${graph.total} nodes in graph order${graph.truncated ? ` (the first ${graph.nodes.length} shown)` : ''}; downsampling ops are outlined in their stage's colour, with their output shape and amRel. Branches (residual shortcuts) appear in the order the graph lists them.</p>
<ol class="layers" aria-label="layers in graph order">${input}${chips.join('')}${graph.truncated ? '<li><span class="chip">…</span></li>' : ''}${logits}</ol>
</section>`;
}

function rawJsonSection(report: AuditReport, jsonHref: string | undefined): string {
  const json = readableJson(report);
  return `<section aria-labelledby="json-h" class="no-print"><h2 id="json-h">Raw JSON</h2>
${jsonHref ? `<p><a id="json-link" href="${esc(jsonHref)}" type="application/json">Open the report as JSON</a> (the same document <code>GET ${esc(jsonHref.split('?')[0])}</code> answers to API clients).</p>` : ''}
<details class="raw" id="raw-json"><summary>Show the report's JSON (${Math.round(json.length / 1024)} kB)</summary><pre><code>${esc(json)}</code></pre></details>
</section>`;
}

/** Indented JSON with arrays of numbers kept on one line (the spectrum would be 3,000 lines otherwise). */
export function readableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[(\s*-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*\s*)\]/g, (_m, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
}
