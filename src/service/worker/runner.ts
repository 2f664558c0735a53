/**
 * Runs one worker request in a fresh child process: forks the worker entry, relays progress,
 * and turns every way a child can end (report, classified error, crash, time-out, cancel) into
 * a result or a {@link WorkerFailure}.
 */
import { ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { AuditProgress } from '../../audit/audit.js';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import { forkEntry } from './entry.js';
import { ProbeResult, WireError, WorkerMessage, WorkerRequest } from './protocol.js';
import { limitedLaunch, makeWorkerHome, memoryLimitFailure, ranOutOfMemory, samplesFile, WorkerSeal, workerEnv } from './seal.js';

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
  /** How an audit worker is confined (account, memory); without it, only the environment is. */
  seal?: WorkerSeal;
  /** Where a worker's own output goes when it ends badly (it never goes into a problem detail). */
  log?: (line: string) => void;
}

const STDERR_TAIL_BYTES = 4096;
/** Descriptors of an audit worker: 3 is the IPC channel, then the model, then the samples. */
const MODEL_FD = 4;
const SAMPLES_FD = 5;

/** Runs an audit of the model file in a sealed child process. */
export function auditInChild(modelPath: string, options: AuditOptions, fetchData: boolean, run: RunOptions): Promise<AuditReport> {
  const seal = run.seal ?? { memoryBytes: 0, preflight: false, identity: null };
  const fds: number[] = [];
  let home: ReturnType<typeof makeWorkerHome> | undefined;
  const cleanup = (): void => {
    for (const fd of fds.splice(0)) closeSync(fd);
    home?.remove();
  };
  try {
    fds.push(openSync(modelPath, 'r'));
    const samples = samplesFile(options.cifar10Dir);
    if (samples) fds.push(openSync(samples.path, 'r'));
    home = makeWorkerHome(seal.identity);
    const request: WorkerRequest = {
      type: 'audit',
      modelFd: MODEL_FD,
      options,
      fetchData,
      samples: samples ? { fd: SAMPLES_FD, source: samples.source } : null,
      memory: { limitBytes: seal.memoryBytes, preflight: seal.preflight },
    };
    const child: ChildSetup = { env: workerEnv('audit', home.path), cwd: home.path, fds, seal, onSpawned: () => fds.splice(0).forEach((fd) => closeSync(fd)) };
    return runInChild(request, run, (m) => (m.type === 'report' ? m.report : undefined), child).finally(cleanup);
  } catch (err) {
    cleanup();
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Checks in a child process that the runtime works and the samples load. It runs no model of a
 * client's, so it keeps the server's account (it may fill the cache) but not its environment.
 */
export function probeInChild(fetchData: boolean, run: RunOptions): Promise<ProbeResult> {
  return runInChild({ type: 'probe', fetchData }, run, (m) => (m.type === 'probe' ? m.result : undefined), { env: workerEnv('probe', null), fds: [] });
}

/**
 * Why a worker ended without answering, from its exit and the tail of its output; the output
 * goes to the log (it names files and internals), never into the job's problem.
 */
export function endedFailure(code: number | null, signal: NodeJS.Signals | null, stderrTail: string, memoryBytes: number, log?: (line: string) => void): WireError {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const tail = stderrTail.trim().split('\n').slice(-5).join(' | ');
  (log ?? ((line: string) => console.error(line)))(`alias-audit: an audit worker ${how}${tail ? `; its last output: ${tail}` : ''}`);
  // Past RLIMIT_DATA, V8 aborts (SIGABRT) and ORT throws bad_alloc; an outside OOM killer sends SIGKILL.
  // A start under too small a limit aborts before it can say why.
  const silentAbort = signal === 'SIGABRT' && stderrTail.trim() === '';
  if (memoryBytes > 0 && (ranOutOfMemory(stderrTail) || signal === 'SIGKILL' || silentAbort)) return memoryLimitFailure(memoryBytes);
  return { name: 'WorkerCrash', code: 'AUDIT_CRASHED', message: `the audit worker ${how} before answering (the model may crash ONNX Runtime)` };
}

/** The failure of an audit that ran past its time limit. */
export function timeoutFailure(timeoutMs: number): WireError {
  const seconds = Math.round(timeoutMs / 100) / 10;
  return { name: 'AuditTimeout', code: 'AUDIT_TIMEOUT', message: `the audit ran past the time limit of ${seconds} s and was stopped` };
}

interface ChildSetup {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Passed to the child as descriptors 4, 5, ... */
  fds: number[];
  seal?: WorkerSeal;
  /** The child has its copies of the descriptors: the parent's can close. */
  onSpawned?: () => void;
}

function runInChild<T>(request: WorkerRequest, run: RunOptions, pick: (m: WorkerMessage) => T | undefined, setup: ChildSetup): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // The signal's reason (a StopReason such as 'cancelled') is what callers match on, not an Error.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (run.signal?.aborted) return reject(run.signal.reason);
    const { file, execArgv: nodeArgs } = forkEntry('auditWorker');
    const memoryBytes = setup.seal?.memoryBytes ?? 0;
    const { execPath, execArgv } = limitedLaunch(memoryBytes, nodeArgs);
    const identity = setup.seal?.identity;
    const child: ChildProcess = fork(file, [], {
      execPath,
      execArgv,
      env: setup.env,
      cwd: setup.cwd,
      ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', ...setup.fds],
      serialization: 'json',
    });
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
        finish(new WorkerFailure(timeoutFailure(run.timeoutMs)));
      }, run.timeoutMs);
      timer.unref();
    }
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on('spawn', () => {
      setup.onSpawned?.();
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
      if (settled) return; // stopped by us: time-out, cancel or shutdown
      if (answer) return finish(undefined, answer.value);
      if (failure) return finish(new WorkerFailure(failure));
      finish(new WorkerFailure(endedFailure(code, signal, stderrTail, memoryBytes, run.log)));
    });
    child.send(request);
  });
}
