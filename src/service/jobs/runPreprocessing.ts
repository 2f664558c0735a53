/**
 * One preprocessing per training run (SPEC §5: every epoch measured alike). A run with explicit
 * preprocessing gives every checkpoint the same options. Under `auto`, the first checkpoint whose
 * audit finishes chooses, and the choice is pinned in the run (in the database, so it survives a
 * restart); a checkpoint that starts after that is measured with the pinned preset. Checkpoints
 * already running when the pin is set (several workers, or a queue of uploads) are checked when
 * they finish: one whose own choice differs from the pin is measured again with the pin, before
 * its report is stored. So no two measured epochs of a run differ in preprocessing, whatever the
 * order in which their audits run.
 */
import { choosesPreprocessing, seriesPreprocessing, withSeriesPreprocessing } from '../../audit/monitor.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import type { RunRepository } from './repository.js';

/**
 * Runs a job's audit with `audit`; for a checkpoint of a run under `auto`, with the run's
 * preprocessing as described above. Jobs that are no run's checkpoint run as they are.
 */
export async function auditWithRunPreprocessing(
  runs: Pick<RunRepository, 'checkpointOfJob' | 'pinPreprocessing'>,
  jobId: string,
  options: AuditOptions,
  audit: (options: AuditOptions) => Promise<AuditReport>,
): Promise<AuditReport> {
  if (!choosesPreprocessing(options)) return audit(options);
  const pinned = (await runs.checkpointOfJob(jobId))?.run.preprocessing;
  if (pinned) return audit(withSeriesPreprocessing(options, pinned));
  const report = await audit(options);
  // Read again: the route links a checkpoint to its job only once the job is queued, and it may have started before.
  const checkpoint = await runs.checkpointOfJob(jobId);
  if (!checkpoint) return report;
  const inForce = await runs.pinPreprocessing(checkpoint.run.id, seriesPreprocessing(report, checkpoint.epoch, options));
  // null: the run was deleted meanwhile, and the job with it; the processor drops the report.
  if (!inForce || inForce.name === report.dataset.preprocessing.name) return report;
  return audit(withSeriesPreprocessing(options, inForce));
}
