/**
 * `alias-audit early-stop ckpt_01.onnx ckpt_02.onnx ...` (or a folder): measures each epoch's
 * checkpoint on the same samples with the same preprocessing (under `auto`, the one the first
 * checkpoint chooses) and applies the aliasing early-stopping rule (SPEC §5).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runAudit } from '../audit/audit.js';
import { checkpointAliasing, CheckpointAliasing, SeriesPreprocessing, seriesPreprocessing, withSeriesPreprocessing } from '../audit/monitor.js';
import { AuditOptions } from '../audit/options.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { EarlyStopDecision, earlyStopDecision, EarlyStopSettings, InvalidEarlyStop } from '../metrics/earlyStopping.js';

/** The checkpoint files in epoch order: as given, or a folder's .onnx files by the number in their names. */
export async function checkpointFiles(paths: string[]): Promise<string[]> {
  if (paths.length === 1 && (await stat(paths[0]).catch(() => undefined))?.isDirectory()) {
    const files = (await readdir(paths[0])).filter((f) => f.endsWith('.onnx'));
    if (files.length === 0) throw new InvalidEarlyStop(`no .onnx checkpoints in ${paths[0]}`);
    const number = (f: string): number => Number(/(\d+)(?!.*\d)/.exec(f)?.[1] ?? Number.NaN);
    if (files.some((f) => Number.isNaN(number(f)))) throw new InvalidEarlyStop('every checkpoint in the folder needs its epoch number in its name (e.g. ckpt_07.onnx)');
    return files.sort((a, b) => number(a) - number(b)).map((f) => join(paths[0], f));
  }
  return paths;
}

/** Epoch of each file: the number in its name when every name has a distinct one, else its position. */
export function epochNumbers(files: string[]): number[] {
  const numbers = files.map((f) => Number(/(\d+)(?!.*\d)/.exec(basename(f))?.[1] ?? Number.NaN));
  const usable = numbers.every((n) => Number.isFinite(n)) && new Set(numbers).size === numbers.length && numbers.every((n, i) => i === 0 || n > numbers[i - 1]);
  return usable ? numbers : files.map((_, i) => i + 1);
}

export interface EarlyStopResult {
  settings: EarlyStopSettings;
  samples: number;
  /** The preprocessing of every epoch: given in the options, or chosen once on the first checkpoint (`auto`). */
  preprocessing: SeriesPreprocessing;
  checkpoints: (CheckpointAliasing & { file: string })[];
  decision: EarlyStopDecision;
  /**
   * The checkpoints' report flags, each as `epoch N: ...` (e.g. an ambiguous `auto` choice on
   * the first epoch, which then holds for the whole series); the CLI prints them on stderr.
   */
  flags: string[];
}

/**
 * Measures the checkpoints in epoch order and applies the rule. Under `--preprocess auto` the
 * first checkpoint chooses and every later one is measured with its choice: `auto` per
 * checkpoint could switch presets between epochs whose presets score alike, and the aliasing of
 * one preset against another's is not a jump.
 */
export async function earlyStop(paths: string[], options: AuditOptions, settings: EarlyStopSettings, onEpoch: (line: string) => void = () => {}): Promise<EarlyStopResult> {
  const files = await checkpointFiles(paths);
  if (files.length < 2) throw new InvalidEarlyStop('early-stop needs the checkpoints of at least two epochs');
  const epochs = epochNumbers(files);
  const dataset = await loadCifar10Test({ dir: options.cifar10Dir });
  const checkpoints: EarlyStopResult['checkpoints'] = [];
  const flags: string[] = [];
  let preprocessing: SeriesPreprocessing | undefined;
  for (let i = 0; i < files.length; i++) {
    const measured = preprocessing ? withSeriesPreprocessing(options, preprocessing) : options;
    const report = await runAudit(await readFile(files[i]), { ...measured, robustness: 'none' }, { dataset });
    preprocessing ??= seriesPreprocessing(report, epochs[i], options);
    checkpoints.push({ ...checkpointAliasing(report, epochs[i]), file: basename(files[i]) });
    flags.push(...report.flags.map((flag) => `epoch ${epochs[i]}: ${flag}`));
    onEpoch(`epoch ${epochs[i]}: ${basename(files[i])} measured (preprocessing ${report.dataset.preprocessing.name})`);
  }
  return {
    settings,
    samples: Math.min(options.samples, dataset.count),
    preprocessing: preprocessing!,
    checkpoints,
    decision: earlyStopDecision(checkpoints, settings),
    flags,
  };
}

/** One line on how the series' preprocessing was set. */
function preprocessingLine(p: SeriesPreprocessing): string {
  if (p.chosenBy !== 'auto') return `preprocessing: ${p.name} for every epoch (${p.chosenBy === 'explicit' ? '--mean/--std' : '--preprocess'})`;
  const most = Math.max(0, ...(p.candidates ?? []).map((c) => c.samples));
  const scores = (p.candidates ?? []).map((c) => `${c.name} ${(c.accuracy * 100).toFixed(1)}%${c.samples < most ? ` (first ${c.samples})` : ''}`).join(', ');
  const on = most > 0 ? ` on ${most} images` : '';
  return `preprocessing: ${p.name} for every epoch (auto, chosen on the checkpoint of epoch ${p.chosenOnEpoch}${scores ? `: ${scores}${on}` : ''})`;
}

/** The series, its preprocessing and the decision as a table (the flags go to stderr, as the audit's do). */
export function formatEarlyStop(r: EarlyStopResult): string {
  const lines = [`epoch  ${'checkpoint'.padEnd(24)} ${'preprocess'.padEnd(10)} clean    am        amRel     median    limit     `];
  for (const e of r.decision.series) {
    const checkpoint = r.checkpoints.find((c) => c.epoch === e.epoch);
    const file = checkpoint?.file ?? '';
    const f = (v: number | null, d = 4): string => (v === null ? '-' : v.toFixed(d)).padEnd(10);
    const clean = checkpoint?.cleanAccuracy ?? 0;
    const pre = (checkpoint?.preprocessing ?? '').slice(0, 10).padEnd(10);
    lines.push(`${String(e.epoch).padEnd(6)} ${file.slice(0, 24).padEnd(24)} ${pre} ${clean.toFixed(3).padEnd(8)} ${f(e.am)}${f(e.amRel)}${f(e.median)}${f(e.limit)}${e.triggered ? '<- jump' : ''}`);
  }
  lines.push(preprocessingLine(r.preprocessing));
  const s = r.settings;
  lines.push(`rule: stop when stage-1 ${s.signal} > (1 + ${s.threshold}) x ${s.window === null ? 'median of all earlier epochs' : s.window === 1 ? 'the previous epoch' : `median of the last ${s.window} epochs`} (${r.samples} CIFAR-10 test images)`);
  lines.push(
    r.decision.stop
      ? `STOP: aliasing jumped at epoch ${r.decision.triggeredAtEpoch}; keep the checkpoint of epoch ${r.decision.recommendedEpoch}`
      : 'no jump: training can go on',
  );
  return lines.join('\n');
}
