/**
 * The report as a short markdown summary (`--summary FILE`), for `$GITHUB_STEP_SUMMARY` or a
 * merge-request note: the verdict and headline numbers, the gates, and the worst ops (by amRel,
 * or by its increase over the baseline when there is one).
 */
import { gateRows } from '../audit/baseline.js';
import type { AuditReport } from '../audit/report.js';

/** Ops listed in the worst-ops table at most. */
const WORST_OPS = 10;

/** A table cell: pipes escaped and line breaks flattened, so that a node name cannot break the table. */
export function mdCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ').trim();
}

/** Inline code that survives backticks inside (a longer fence, spaced as CommonMark asks). */
function code(text: string): string {
  const runs = text.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  return `${fence}${text.startsWith('`') || text.endsWith('`') ? ` ${text} ` : text}${fence}`;
}

/** Inline code in a table cell: GFM splits cells on pipes before it reads code spans, so they are escaped there too. */
function cellCode(text: string): string {
  return code(text.replace(/[\r\n]+/g, ' ')).replace(/\|/g, '\\|');
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`);
}

const num = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? '–' : v.toFixed(digits));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
const signed = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}`);
const signedPct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)} pts`);

export interface SummaryOptions {
  modelName?: string;
  baselineName?: string;
}

/** The report as markdown. */
export function renderSummary(report: AuditReport, options: SummaryOptions = {}): string {
  const gates = gateRows(report.thresholds);
  const failed = gates.filter((g) => !g.passed).length;
  const verdict = gates.length === 0 ? 'no gates given' : failed === 0 ? '✅ all gates pass' : `❌ ${failed} of ${gates.length} gates fail`;
  const model = options.modelName ?? report.model.sha256.slice(0, 12);
  const b = report.baseline;
  const out: string[] = [`### alias-audit: ${mdCell(model)} — ${verdict}`, ''];

  const measured = report.downsampling.filter((d) => d.error === undefined && d.amRel !== null);
  const worst = measured.reduce<(typeof measured)[number] | null>((w, d) => (w === null || d.amRel! > w.amRel! ? d : w), null);
  const head: string[] = [
    `- Clean accuracy: **${pct(report.cleanAccuracy)}**${b ? ` (baseline ${pct(b.cleanAccuracy.baseline)}, ${signedPct(b.cleanAccuracy.delta)})` : ''}`,
  ];
  if (report.robustness) {
    const r = report.robustness;
    head.push(`- Robust accuracy: **${pct(r.robustAccuracy)}** (${r.preset}, eps ${mdCell(r.epsText)}, ${r.samples} images)${b?.robustAccuracy ? ` (baseline ${pct(b.robustAccuracy.baseline)}, ${signedPct(b.robustAccuracy.delta)})` : ''}`);
  }
  head.push(worst ? `- Worst amRel: **${num(worst.amRel)}** at ${code(worst.node)} (stage ${worst.stage})` : '- Worst amRel: – (no downsampling op measured)');
  const pre = report.dataset.preprocessing;
  head.push(`- ${report.dataset.samples} CIFAR-10 test images, preprocessing ${mdCell(pre.name)}, ${report.executionProvider.used}, alias-audit ${mdCell(report.tool.version)}`);
  if (b) {
    const comparable = b.sameOptions && b.sameSamples ? 'same images and options' : `**differs**: ${b.differences.map((d) => mdCell(d.field)).join(', ')}`;
    head.push(`- Baseline: ${options.baselineName ? `${code(options.baselineName)} ` : ''}(${b.source}, sha256 ${b.model.sha256.slice(0, 12)}), ${comparable}`);
  }
  out.push(...head, '');

  if (gates.length > 0) {
    out.push('#### Gates', '');
    const rows = gates.map((g) => [cellCode(g.flag), num(g.value), String(g.limit), g.passed ? '✅ pass' : '❌ fail', g.detail === null ? '' : mdCell(g.detail)]);
    out.push(...table(['Gate', 'Value', 'Limit', 'Verdict', 'Where / why'], rows, ['l', 'r', 'r', 'l', 'l']), '');
  }

  if (b) {
    const ops = [...b.ops].filter((o) => o.amRel.delta !== null).sort((x, y) => y.amRel.delta! - x.amRel.delta!).slice(0, WORST_OPS);
    if (ops.length > 0) {
      out.push(`#### Ops by amRel increase (worst ${ops.length} of ${b.ops.length})`, '');
      const rows = ops.map((o) => [cellCode(o.node), String(o.stage), num(o.amRel.baseline), num(o.amRel.current), signed(o.amRel.delta), signed(o.am.delta)]);
      out.push(...table(['Op', 'Stage', 'amRel baseline', 'amRel', 'Δ amRel', 'Δ am'], rows, ['l', 'r', 'r', 'r', 'r', 'r']), '');
    }
    const lost = [...b.unmatched.current.map((u) => `${code(u.node)} (new)`), ...b.unmatched.baseline.map((u) => `${code(u.node)} (baseline only)`)];
    if (lost.length > 0) out.push(`Unmatched ops: ${lost.join(', ')}`, '');
  } else if (measured.length > 0) {
    const ops = [...measured].sort((x, y) => y.amRel! - x.amRel!).slice(0, WORST_OPS);
    out.push(`#### Ops by amRel (worst ${ops.length} of ${measured.length})`, '');
    const rows = ops.map((o) => [cellCode(o.node), o.op, String(o.stage), num(o.amRel), num(o.am), num(o.aliasEnergy)]);
    out.push(...table(['Op', 'Type', 'Stage', 'amRel', 'am', 'aliasEnergy'], rows, ['l', 'l', 'r', 'r', 'r', 'r']), '');
  }
  for (const flag of report.flags) out.push(`> ⚠️ ${mdCell(flag)}`);
  if (report.flags.length > 0) out.push('');
  return out.join('\n');
}
