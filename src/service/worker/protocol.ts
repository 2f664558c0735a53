/**
 * Messages between the service and its audit worker processes (IPC: JSON serialised, except
 * for a warm worker's, which use the 'advanced' serialisation so that a model's bytes cross as
 * they are).
 */
import type { AuditProgress } from '../../audit/audit.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';

/** An error as it crosses a process boundary: the class name and code survive, the class does not. */
export interface WireError {
  name: string;
  code?: string;
  message: string;
}

/**
 * Parent -> worker: what to do. A worker given an 'audit' or a 'probe' does that one thing and
 * exits; one given 'warmAudit' requests serves them one at a time. An audit worker reads its
 * model (and the samples, when they are on disk) from descriptors the parent opened for it: it
 * may run as an account that cannot open those files.
 */
export type WorkerRequest =
  | (AuditSettings & {
      type: 'audit';
      /** Descriptor of the model file, open for reading. */
      modelFd: number;
    })
  | { type: 'probe'; fetchData: boolean }
  /**
   * An audit for a warm worker, which answers and then waits for the next one. The model comes
   * as bytes; the samples descriptor is read on the first audit only, and the set kept for the
   * next ones (the parent sends a worker only audits with the same samples source).
   */
  | (AuditSettings & {
      type: 'warmAudit';
      model: Uint8Array;
    });

/** What every audit request carries besides its model. */
interface AuditSettings {
  options: AuditOptions;
  fetchData: boolean;
  /** Descriptor and source tag of the samples file; null = the worker loads them itself. */
  samples: { fd: number; source: string } | null;
  /** The worker's memory limit (bytes; 0 = none) and whether to refuse an audit estimated beyond it. */
  memory: { limitBytes: number; preflight: boolean };
}

export interface ProbeResult {
  runtime: { ok: true; provider: string } | { ok: false; error: WireError };
  samples: { ok: true; source: string; count: number } | { ok: false; error: WireError };
}

/** Worker -> parent. */
export type WorkerMessage =
  | { type: 'progress'; progress: AuditProgress }
  | { type: 'report'; report: AuditReport }
  | { type: 'probe'; result: ProbeResult }
  | { type: 'error'; error: WireError };

/** An error's wire form; `code` is kept when it is a string (ModelError, data errors). */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
