/**
 * `alias-audit compare A.onnx B.onnx ...`: audits several models on the same samples and prints
 * their stages side by side, so a difference in aliasing is visible at a glance.
 */
import { basename } from 'node:path';
import { runAudit } from '../audit/audit.js';
import { AuditOptions } from '../audit/options.js';
import { AuditReport } from '../audit/report.js';
import { loadCifar10Test } from '../data/cifar10.js';
import { ModelError } from '../onnx/codec.js';
import { readModelFile } from './inputs.js';

/** Progress of model `index` (0-based) of `count`: its audit's own fraction and message. */
export type CompareProgress = (index: number, count: number, fraction: number, message: string) => void;

export async function compareModels(paths: string[], options: AuditOptions, log: (line: string) => void, onProgress?: CompareProgress): Promise<AuditReport[]> {
  // Every file first: a typo in the last path should not cost the audits of the others.
  const models = await Promise.all(paths.map((p) => readModelFile(p)));
  const dataset = await loadCifar10Test({ dir: options.cifar10Dir });
  const reports: AuditReport[] = [];
  for (const [i, bytes] of models.entries()) {
    const progress = onProgress ? (p: { fraction: number; message: string }) => onProgress(i, models.length, p.fraction, p.message) : undefined;
    try {
      reports.push(await runAudit(bytes, options, { dataset, onProgress: progress }));
    } catch (err) {
      // With several models, the reason alone would not say which one it is about.
      throw err instanceof ModelError ? new ModelError(err.code, `${paths[i]}: ${err.message}`) : err;
    }
  }
  const names = paths.map((p) => basename(p, '.onnx'));
  const width = Math.max(12, ...names.map((n) => n.length));
  const cell = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? '-' : v.toFixed(digits)).padStart(width);
  log(`${'model'.padEnd(22)}${names.map((n) => n.padStart(width)).join('  ')}`);
  log(`${'clean accuracy'.padEnd(22)}${reports.map((r) => cell(r.cleanAccuracy, 3)).join('  ')}`);
  const stages = Math.max(0, ...reports.map((r) => r.stages.length));
  for (let s = 0; s < stages; s++) {
    for (const key of ['am', 'amRel', 'aliasEnergy'] as const) {
      log(`${`stage ${s + 1} ${key}`.padEnd(22)}${reports.map((r) => cell(r.stages[s]?.[key])).join('  ')}`);
    }
  }
  log(`(${reports[0]?.dataset.samples ?? 0} CIFAR-10 test images, provider ${reports.map((r) => r.executionProvider.used).join('/')})`);
  return reports;
}
