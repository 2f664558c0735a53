/**
 * `alias-audit early-stop ckpt_01.onnx ckpt_02.onnx ...` (or a folder): measures each epoch's
 * checkpoint on the same samples and applies the aliasing early-stopping rule (SPEC §5).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runAudit } from '../audit/audit.js';
import { checkpointAliasing, CheckpointAliasing } from '../audit/monitor.js';
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
  checkpoints: (CheckpointAliasing & { file: string })[];
  decision: EarlyStopDecision;
}

export async function earlyStop(paths: string[], options: AuditOptions, settings: EarlyStopSettings, onEpoch: (line: string) => void = () => {}): Promise<EarlyStopResult> {
  const files = await checkpointFiles(paths);
  if (files.length < 2) throw new InvalidEarlyStop('early-stop needs the checkpoints of at least two epochs');
  const epochs = epochNumbers(files);
  const dataset = await loadCifar10Test({ dir: options.cifar10Dir });
  const checkpoints: EarlyStopResult['checkpoints'] = [];
  for (let i = 0; i < files.length; i++) {
    const report = await runAudit(await readFile(files[i]), { ...options, robustness: 'none' }, { dataset });
    checkpoints.push({ ...checkpointAliasing(report, epochs[i]), file: basename(files[i]) });
    onEpoch(`epoch ${epochs[i]}: ${basename(files[i])} measured`);
  }
  return { settings, samples: Math.min(options.samples, dataset.count), checkpoints, decision: earlyStopDecision(checkpoints, settings) };
}

/** The series and the decision as a table. */
export function formatEarlyStop(r: EarlyStopResult): string {
  const lines = [`epoch  ${'checkpoint'.padEnd(24)} clean    am        amRel     median    limit     `];
  for (const e of r.decision.series) {
    const file = r.checkpoints.find((c) => c.epoch === e.epoch)?.file ?? '';
    const f = (v: number | null, d = 4): string => (v === null ? '-' : v.toFixed(d)).padEnd(10);
    const clean = r.checkpoints.find((c) => c.epoch === e.epoch)?.cleanAccuracy ?? 0;
    lines.push(`${String(e.epoch).padEnd(6)} ${file.slice(0, 24).padEnd(24)} ${clean.toFixed(3).padEnd(8)} ${f(e.am)}${f(e.amRel)}${f(e.median)}${f(e.limit)}${e.triggered ? '<- jump' : ''}`);
  }
  const s = r.settings;
  lines.push(`rule: stop when stage-1 ${s.signal} > (1 + ${s.threshold}) x ${s.window === null ? 'median of all earlier epochs' : s.window === 1 ? 'the previous epoch' : `median of the last ${s.window} epochs`} (${r.samples} CIFAR-10 test images)`);
  lines.push(
    r.decision.stop
      ? `STOP: aliasing jumped at epoch ${r.decision.triggeredAtEpoch}; keep the checkpoint of epoch ${r.decision.recommendedEpoch}`
      : 'no jump: training can go on',
  );
  return lines.join('\n');
}
