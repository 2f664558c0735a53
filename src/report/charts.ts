/**
 * The report's charts as inline SVG strings, drawn on the server: they need no script, so the
 * report is one self-contained file that works offline, prints as vectors, and can be read by
 * a test straight from the DOM (every bar carries its value in `data-value`).
 */
import { esc, metric, percent } from './format.js';

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies, and in print. */
export const STAGE_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#999933'];

/** The colour of a stage's bars and chips (stage numbers start at 1). */
export function stageColour(stage: number): string {
  return STAGE_COLOURS[(stage - 1 + STAGE_COLOURS.length) % STAGE_COLOURS.length];
}

/** One op's bar. */
export interface Bar {
  /** Short label under the bar (e.g. "#1"). */
  label: string;
  /** Second line under the bar (e.g. "Conv 3×3"); left out when bars are narrow. */
  sublabel?: string;
  /** Full description for the tooltip. */
  title: string;
  node: string;
  value: number | null;
}

/** The bars of one stage, with its mean. */
export interface BarGroup {
  stage: number;
  /** e.g. "stage 1 · 16×16" */
  label: string;
  mean: number | null;
  bars: Bar[];
}

/** What the bar chart shows and says to screen readers. */
export interface BarChartOptions {
  /** Names the metric in data attributes ("am", "amRel"). */
  metric: string;
  /** Fixed top of the axis (amRel is a share: 0..1 for every model, so reports compare). */
  yMax?: number;
  ariaLabel: string;
}

/** viewBox widths: a bar chart fills half the page beside its twin, at about 1:1 text scale. */
const W = 720;
const BAR_W = 520;

/** Ticks at 1, 2, 2.5 or 5 times a power of ten, covering [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = 0; t < max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < max - step * 1e-9) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function num(x: number): string {
  return String(Math.round(x * 10) / 10);
}

/**
 * Vertical bars grouped by stage, one colour per stage, the stage's mean as a dashed line
 * across its bars. Ops without a value (an op that could not be measured) leave an empty slot
 * marked "n/a" and no bar.
 */
export function groupedBarChart(groups: readonly BarGroup[], options: BarChartOptions): string {
  const bars = groups.reduce((n, g) => n + g.bars.length, 0);
  const slots = bars + Math.max(0, groups.length - 1) * 0.8;
  const left = 52;
  const right = 12;
  const top = 22;
  const narrow = bars > 14;
  const bottom = narrow ? 44 : 58;
  const H = 270;
  const plotW = BAR_W - left - right;
  const plotH = H - top - bottom;
  const slot = plotW / Math.max(slots, 1);
  const barW = Math.min(64, slot * 0.72);
  const values = groups.flatMap((g) => [g.mean, ...g.bars.map((b) => b.value)]).filter((v): v is number => v !== null && Number.isFinite(v));
  const ticks = niceTicks(options.yMax ?? Math.max(...values, 0));
  const yMax = ticks[ticks.length - 1];
  const y = (v: number): number => top + plotH * (1 - Math.min(v, yMax) / yMax);
  const out: string[] = [];
  out.push(`<svg class="chart bar-chart" data-metric="${esc(options.metric)}" viewBox="0 0 ${BAR_W} ${H}" role="img" aria-label="${esc(options.ariaLabel)}" xmlns="http://www.w3.org/2000/svg">`);
  for (const t of ticks) {
    out.push(`<line class="grid" x1="${left}" x2="${BAR_W - right}" y1="${num(y(t))}" y2="${num(y(t))}"/>`);
    out.push(`<text class="tick" x="${left - 6}" y="${num(y(t) + 4)}" text-anchor="end">${esc(metric(t))}</text>`);
  }
  out.push(`<text class="axis-title" transform="translate(13 ${num(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${esc(options.metric)}</text>`);
  let x = left;
  for (const [gi, g] of groups.entries()) {
    if (gi > 0) x += slot * 0.8;
    const x0 = x;
    const colour = stageColour(g.stage);
    for (const b of g.bars) {
      const cx = x + slot / 2;
      if (b.value === null || !Number.isFinite(b.value)) {
        out.push(`<text class="na" x="${num(cx)}" y="${num(top + plotH - 6)}" text-anchor="middle">n/a</text>`);
      } else {
        const yTop = y(Math.max(b.value, 0));
        out.push(
          `<rect class="bar" data-metric="${esc(options.metric)}" data-node="${esc(b.node)}" data-stage="${g.stage}" data-value="${b.value}" ` +
            `x="${num(cx - barW / 2)}" y="${num(yTop)}" width="${num(barW)}" height="${num(top + plotH - yTop)}" fill="${colour}"><title>${esc(b.title)}</title></rect>`,
        );
        if (bars <= 24) out.push(`<text class="value" x="${num(cx)}" y="${num(yTop - 4)}" text-anchor="middle">${esc(metric(b.value))}</text>`);
      }
      out.push(`<text class="bar-label" x="${num(cx)}" y="${num(top + plotH + 14)}" text-anchor="middle">${esc(b.label)}</text>`);
      if (!narrow && b.sublabel) out.push(`<text class="bar-sublabel" x="${num(cx)}" y="${num(top + plotH + 27)}" text-anchor="middle">${esc(b.sublabel)}</text>`);
      x += slot;
    }
    if (g.mean !== null && Number.isFinite(g.mean)) {
      const ym = num(y(g.mean));
      out.push(
        `<line class="stage-mean" data-metric="${esc(options.metric)}" data-stage="${g.stage}" data-value="${g.mean}" x1="${num(x0 + 2)}" x2="${num(x - 2)}" y1="${ym}" y2="${ym}"><title>stage ${g.stage} mean ${esc(metric(g.mean))}</title></line>`,
      );
    }
    const labelY = top + plotH + (narrow ? 30 : 44);
    out.push(`<text class="group-label" x="${num((x0 + x) / 2)}" y="${num(labelY)}" text-anchor="middle" fill="${colour}">${esc(g.label)}</text>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${BAR_W - right}" y1="${top + plotH}" y2="${top + plotH}"/>`);
  out.push('</svg>');
  return out.join('');
}

/** One row of the accuracy chart. */
export interface AccuracyRow {
  /** "clean", an attack's name, or "all attacks". */
  label: string;
  key: string;
  value: number;
  kind: 'clean' | 'attack' | 'worst';
}

/** Horizontal bars on a fixed 0–100% axis: clean accuracy, each attack's robust accuracy, the worst case. */
export function accuracyChart(rows: readonly AccuracyRow[], ariaLabel: string): string {
  const left = 120;
  const right = 64;
  const rowH = 30;
  const top = 8;
  const H = top + rows.length * rowH + 24;
  const plotW = W - left - right;
  const out: string[] = [];
  out.push(`<svg class="chart accuracy-chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(ariaLabel)}" xmlns="http://www.w3.org/2000/svg">`);
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const x = num(left + plotW * t);
    out.push(`<line class="grid" x1="${x}" x2="${x}" y1="${top}" y2="${top + rows.length * rowH}"/>`);
    out.push(`<text class="tick" x="${x}" y="${top + rows.length * rowH + 16}" text-anchor="middle">${t * 100}%</text>`);
  }
  rows.forEach((r, i) => {
    const yMid = top + i * rowH + rowH / 2;
    const w = plotW * Math.max(0, Math.min(1, r.value));
    out.push(`<text class="row-label" x="${left - 8}" y="${num(yMid + 4)}" text-anchor="end">${esc(r.label)}</text>`);
    out.push(
      `<rect class="acc-bar ${r.kind}" data-key="${esc(r.key)}" data-value="${r.value}" x="${left}" y="${num(yMid - 9)}" width="${num(w)}" height="18"><title>${esc(`${r.label}: ${percent(r.value)}`)}</title></rect>`,
    );
    out.push(`<text class="value" x="${num(left + w + 6)}" y="${num(yMid + 4)}">${esc(percent(r.value))}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

/** Viridis at ten evenly spaced points: perceptually uniform, readable in greyscale print and by most colour-blind readers. */
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'].map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));

/** The viridis colour at t in [0, 1]. */
export function viridis(t: number): string {
  const s = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(s), VIRIDIS.length - 2);
  const f = s - i;
  const rgb = VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
  return `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

const LEVELS = 48;

/** Scale, low band and text alternative of one heatmap. */
export interface HeatmapOptions {
  /** Colour scale bounds, shared by the channels so their panels compare. */
  lo: number;
  hi: number;
  ariaLabel: string;
  /** Cells with max(|u|,|v|) <= lowBand are inside the dashed square. */
  lowBand: number;
  channel: string;
}

/**
 * A centred spectrum (`matrix[u][v]`, zero frequency at [n/2][n/2]) as a heatmap. Cells are
 * quantised to a few dozen colours and drawn as one path per colour, which keeps three 32×32
 * panels to a few tens of kilobytes instead of one element per cell.
 */
export function heatmap(matrix: readonly (readonly number[])[], options: HeatmapOptions): string {
  const n = matrix.length;
  const cell = 5;
  const pad = 28;
  const size = n * cell;
  const paths = new Map<number, string[]>();
  const span = options.hi - options.lo || 1;
  for (let u = 0; u < n; u++) {
    for (let v = 0; v < n; v++) {
      const level = Math.round(((matrix[u][v] - options.lo) / span) * (LEVELS - 1));
      const list = paths.get(level) ?? [];
      list.push(`M${pad + v * cell} ${pad + u * cell}h${cell}v${cell}h-${cell}z`);
      paths.set(level, list);
    }
  }
  const out: string[] = [];
  out.push(`<svg class="chart heatmap" data-channel="${esc(options.channel)}" data-cells="${n * n}" viewBox="0 0 ${size + 2 * pad} ${size + 2 * pad}" role="img" aria-label="${esc(options.ariaLabel)}" xmlns="http://www.w3.org/2000/svg">`);
  // crispEdges: without it, anti-aliasing draws faint seams between neighbouring cells.
  out.push('<g shape-rendering="crispEdges">');
  for (const [level, d] of [...paths.entries()].sort((a, b) => a[0] - b[0])) {
    out.push(`<path fill="${viridis(level / (LEVELS - 1))}" d="${d.join('')}"/>`);
  }
  out.push('</g>');
  const c = n / 2;
  const b0 = pad + (c - options.lowBand) * cell;
  const bSize = (2 * options.lowBand + 1) * cell;
  out.push(`<rect class="low-band" x="${b0}" y="${b0}" width="${bSize}" height="${bSize}"><title>low band: max(|u|,|v|) ≤ ${options.lowBand}</title></rect>`);
  out.push(`<text class="tick" x="${pad + c * cell + cell / 2}" y="${pad - 5}" text-anchor="middle">0</text>`);
  out.push(`<text class="tick" x="${pad}" y="${pad - 5}" text-anchor="start">−${c}</text>`);
  out.push(`<text class="tick" x="${pad + size}" y="${pad - 5}" text-anchor="end">${c - 1}</text>`);
  out.push(`<text class="tick" x="${pad - 4}" y="${pad + 8}" text-anchor="end">−${c}</text>`);
  out.push(`<text class="tick" x="${pad - 4}" y="${pad + c * cell + cell / 2 + 4}" text-anchor="end">0</text>`);
  out.push(`<text class="tick" x="${pad - 4}" y="${pad + size}" text-anchor="end">${c - 1}</text>`);
  out.push(`<text class="tick" x="${pad + size / 2}" y="${size + 2 * pad - 5}" text-anchor="middle">horizontal frequency</text>`);
  out.push(`<text class="tick" transform="translate(${pad + size + 12} ${pad + size / 2}) rotate(90)" text-anchor="middle">vertical frequency</text>`);
  out.push('</svg>');
  return out.join('');
}

/** The colour scale of the heatmaps: a gradient bar with its two ends labelled. */
export function colourScale(lo: number, hi: number, label: string): string {
  const stops = Array.from({ length: 11 }, (_, i) => `<stop offset="${i * 10}%" stop-color="${viridis(i / 10)}"/>`).join('');
  return (
    `<svg class="colour-scale" viewBox="0 0 300 34" role="img" aria-label="${esc(`colour scale from ${metric(lo)} (dark) to ${metric(hi)} (yellow), ${label}`)}" xmlns="http://www.w3.org/2000/svg">` +
    `<defs><linearGradient id="viridis-scale">${stops}</linearGradient></defs>` +
    `<rect x="4" y="4" width="292" height="12" fill="url(#viridis-scale)"/>` +
    `<text class="tick" x="4" y="30">${esc(metric(lo))}</text><text class="tick" x="296" y="30" text-anchor="end">${esc(metric(hi))}</text></svg>`
  );
}
