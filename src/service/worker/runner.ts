/**
 * Runs one worker request in a fresh child process: forks the worker entry, relays progress,
 * and turns every way a child can end (report, classified error, crash, time-out, cancel) into
 * a result or a {@link WorkerFailure}.
 */
import { ChildProcess, fork } from 'node:child_process';
import { setPriority } from 'node:os';
import type { AuditProgress } from '../../audit/audit.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import { forkEntry } from './entry.js';
import { ProbeResult, WireError, WorkerMessage, WorkerRequest } from './protocol.js';

/** The worker ended without an answer, or with an error; `failure.code` classifies it. */
export class WorkerFailure extends Error {
  constructor(readonly failure: WireError) {
    super(failure.message);
    this.name = 'WorkerFailure';
  }
}

export interface RunOptions {
  /** Kill the child after this long (ms); 0 = no limit. */
  timeoutMs: number;
  /** Aborting kills the child; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (p: AuditProgress) => void;
  /** Niceness of the child, so audits yield the CPU to the server's own requests. */
  niceness?: number;
}

const STDERR_TAIL_BYTES = 4096;

/** Runs an audit of the model file in a child process. */
export function auditInChild(modelPath: string, options: AuditOptions, fetchData: boolean, run: RunOptions): Promise<AuditReport> {
  return runInChild({ type: 'audit', modelPath, options, fetchData }, run, (m) => (m.type === 'report' ? m.report : undefined));
}

/** Checks in a child process that the runtime works and the samples load. */
export function probeInChild(fetchData: boolean, run: RunOptions): Promise<ProbeResult> {
  return runInChild({ type: 'probe', fetchData }, run, (m) => (m.type === 'probe' ? m.result : undefined));
}

function runInChild<T>(request: WorkerRequest, run: RunOptions, pick: (m: WorkerMessage) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // The signal's reason (a StopReason such as 'cancelled') is what callers match on, not an Error.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (run.signal?.aborted) return reject(run.signal.reason);
    const { file, execArgv } = forkEntry('auditWorker');
    const child: ChildProcess = fork(file, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    let settled = false;
    let answer: { value: T } | undefined;
    let failure: WireError | undefined;
    let stderrTail = '';
    let timer: NodeJS.Timeout | undefined;

    const finish = (err: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(value as T);
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort's StopReason, passed on as it is
      else reject(err);
    };
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onAbort = (): void => {
      kill();
      finish(run.signal?.reason ?? new Error('aborted'));
    };

    run.signal?.addEventListener('abort', onAbort, { once: true });
    if (run.timeoutMs > 0) {
      timer = setTimeout(() => {
        kill();
        const seconds = Math.round(run.timeoutMs / 100) / 10;
        finish(new WorkerFailure({ name: 'AuditTimeout', code: 'AUDIT_TIMEOUT', message: `the audit ran past the time limit of ${seconds} s and was stopped` }));
      }, run.timeoutMs);
      timer.unref();
    }
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on('spawn', () => {
      if (run.niceness && child.pid) {
        try {
          setPriority(child.pid, run.niceness);
        } catch {
          // Lowering a child's priority can be refused (some sandboxes); it only costs latency.
        }
      }
    });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') run.onProgress?.(m.progress);
      else if (m.type === 'error') failure = m.error;
      else {
        const value = pick(m);
        if (value !== undefined) answer = { value };
      }
    });
    child.on('error', (err) => {
      kill();
      finish(new WorkerFailure({ name: 'WorkerError', code: 'AUDIT_CRASHED', message: `the audit worker could not run: ${err.message}` }));
    });
    // 'close', not 'exit': it comes after the IPC channel and stderr are drained, so no answer is missed.
    child.on('close', (code, signal) => {
      if (answer) return finish(undefined, answer.value);
      if (failure) return finish(new WorkerFailure(failure));
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = stderrTail.trim().split('\n').slice(-5).join(' | ');
      finish(
        new WorkerFailure({
          name: 'WorkerCrash',
          code: 'AUDIT_CRASHED',
          message: `the audit worker ${how} before answering (the model may crash ONNX Runtime)${tail ? `; its last output: ${tail}` : ''}`,
        }),
      );
    });
    child.send(request);
  });
}
