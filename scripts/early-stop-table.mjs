#!/usr/bin/env node
/**
 * One table over several measured runs, like the paper's Figure 15: for every threshold t and
 * every (signal, window), the epoch the rule keeps on each collapsing run (with its PGD-10
 * accuracy) and whether it fires wrongly on a run without collapse. Printed as Markdown.
 *
 *   node scripts/early-stop-table.mjs RUN_DIR...
 *
 * RUN_DIR: a models/overfitting run folder with series.json (`alias-audit early-stop DIR --json`)
 * and record.json. Needs `npm run build` first (the rule is imported from dist).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { earlyStopDecision } from '../dist/metrics/earlyStopping.js';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node scripts/early-stop-table.mjs RUN_DIR...');
  process.exit(2);
}
const runs = dirs.map((dir) => {
  const series = JSON.parse(readFileSync(`${dir}/series.json`, 'utf8'));
  const record = JSON.parse(readFileSync(`${dir}/record.json`, 'utf8'));
  return {
    name: basename(dir.replace(/\/$/, '')),
    epochs: series.checkpoints.map(({ epoch, am, amRel }) => ({ epoch, am, amRel })),
    pgdAt: new Map(record.epochs.map((e) => [e.epoch, e.pgd10Accuracy])),
    collapse: record.collapseEpoch,
    best: record.bestPgdEpochBeforeCollapse,
  };
});
const collapsing = runs.filter((r) => r.collapse !== null);
const quiet = runs.filter((r) => r.collapse === null);
const settings = ['am', 'amRel'].flatMap((signal) => [null, 1, 3, 5].map((window) => ({ signal, window })));
const windowName = (w) => (w === null ? 'all earlier' : w === 1 ? 'previous' : `last ${w}`);

/** A cell: per collapsing run the kept epoch (PGD-10 there), "-" when silent; "FA" per false alarm. */
function cell(signal, threshold, window) {
  const parts = collapsing.map((r) => {
    const d = earlyStopDecision(r.epochs, { signal, threshold, window });
    if (d.recommendedEpoch === null) return '-';
    const good = Math.abs(d.recommendedEpoch - r.best) <= 1 && d.recommendedEpoch < r.collapse;
    const beforeCollapse = d.recommendedEpoch < r.collapse;
    const text = `${d.recommendedEpoch} (${(100 * r.pgdAt.get(d.recommendedEpoch)).toFixed(1)}%)`;
    return good ? `**${text}**` : beforeCollapse ? text : `${text} late`;
  });
  const alarms = quiet.filter((r) => earlyStopDecision(r.epochs, { signal, threshold, window }).stop).length;
  return parts.join(' / ') + (alarms ? ` FA${alarms > 1 ? `x${alarms}` : ''}` : '');
}

const lines = [];
lines.push(`| t | ${settings.map((s) => `${s.signal}, ${windowName(s.window)}`).join(' | ')} |`);
lines.push(`|---:|${settings.map(() => '---').join('|')}|`);
for (let i = 0; i <= 10; i++) {
  const t = (10 + 5 * i) / 100;
  lines.push(`| ${t.toFixed(2)} | ${settings.map((s) => cell(s.signal, t, s.window)).join(' | ')} |`);
}
lines.push(`| 0.33 (paper) | ${settings.map((s) => cell(s.signal, 0.33, s.window)).join(' | ')} |`);
lines.push('');
lines.push(`Collapsing run(s): ${collapsing.map((r) => `${r.name} (collapse at ${r.collapse}, best PGD-10 epoch before it ${r.best}, ${(100 * r.pgdAt.get(r.best)).toFixed(1)}%)`).join('; ') || 'none'}. ` +
  `Runs without collapse (false-alarm checks): ${quiet.map((r) => r.name).join(', ') || 'none'}.`);
lines.push('Cells: the epoch kept on each collapsing run (its PGD-10 accuracy); **bold** = within one epoch of the best PGD-10 epoch before the collapse; ' +
  '"late" = the kept epoch has already collapsed; "-" = never fires; FA = fires on a run without collapse (xN: on N of them).');
console.log(lines.join('\n'));
