/**
 * Warm audit workers: a sealed worker process (as in runner.ts) that stays up between audits,
 * keeping the CIFAR-10 samples and the loaded runtime, so an audit does not pay their start-up.
 *
 * Confinement stays per tenant and per failure: a worker is reused only for the next audit of
 * the same tenant (a hostile model must leave no state that another tenant's audit runs in),
 * and a worker whose audit failed in any way (error, crash, time-out, cancel, memory) is killed,
 * never reused. An idle worker is killed after a while, or when the pool closes. Taking a fresh
 * worker while another is idle kills the oldest idle one, so a pool never holds more workers
 * than audits run at once.
 */
import { ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { setPriority } from 'node:os';
import type { AuditOptions } from '../../audit/options.js';
import type { AuditReport } from '../../audit/report.js';
import { forkEntry } from './entry.js';
import type { WorkerMessage, WorkerRequest } from './protocol.js';
import { endedFailure, RunOptions, timeoutFailure, WorkerFailure } from './runner.js';
import { limitedLaunch, makeWorkerHome, samplesFile, WorkerSeal, workerEnv } from './seal.js';

export interface WarmRunOptions extends RunOptions {
  /** Whose audit it is: a worker serves the audits of one tenant only. */
  tenant: string;
  /** Gets the pid of the worker that runs this audit (tests check which audits shared one). */
  onWorker?: (pid: number) => void;
}

export interface WarmPoolOptions {
  /** An idle worker is killed after this long (ms). */
  idleMs?: number;
}

const DEFAULT_IDLE_MS = 60_000;
const STDERR_TAIL_BYTES = 4096;
/** Descriptors of a warm worker: 3 is the IPC channel, then the samples (read on its first audit). */
const SAMPLES_FD = 4;

type WarmRequest = Extract<WorkerRequest, { type: 'warmAudit' }>;

interface Pending {
  /** Settles the audit once; `kill` first when the worker must not answer any more. */
  settle(err: unknown, report?: AuditReport): void;
  run: WarmRunOptions;
}

/** One warm worker process and the audit it runs, if any. */
class WarmWorker {
  readonly child: ChildProcess;
  idleTimer: NodeJS.Timeout | undefined;
  /** Resolves once the process has ended and its home is removed. */
  readonly gone: Promise<void>;
  private stderrTail = '';
  private pending: Pending | undefined;
  private ended = false;

  constructor(
    readonly key: string,
    private readonly seal: WorkerSeal,
    samples: { path: string; source: string } | null,
    niceness: number | undefined,
    onEnd: (w: WarmWorker) => void,
  ) {
    const home = makeWorkerHome(seal.identity);
    const fds: number[] = [];
    const closeFds = (): void => fds.splice(0).forEach((fd) => closeSync(fd));
    try {
      if (samples) fds.push(openSync(samples.path, 'r'));
      const { file, execArgv: nodeArgs } = forkEntry('auditWorker');
      const { execPath, execArgv } = limitedLaunch(seal.memoryBytes, nodeArgs);
      const identity = seal.identity;
      this.child = fork(file, [], {
        execPath,
        execArgv,
        env: workerEnv('audit', home.path),
        cwd: home.path,
        ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
        stdio: ['ignore', 'ignore', 'pipe', 'ipc', ...fds],
        // A model's bytes cross as they are, not as a JSON array of numbers.
        serialization: 'advanced',
      });
    } catch (err) {
      closeFds();
      home.remove();
      throw err;
    }
    const child = this.child;
    let ended = (): void => undefined;
    this.gone = new Promise<void>((resolve) => (ended = resolve));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    child.on('spawn', () => {
      closeFds(); // the child has its copy
      if (niceness && child.pid) {
        try {
          setPriority(child.pid, niceness);
        } catch {
          // Lowering a child's priority can be refused (some sandboxes); it only costs latency.
        }
      }
    });
    child.on('message', (m: WorkerMessage) => {
      const p = this.pending;
      if (!p) return;
      if (m.type === 'progress') p.run.onProgress?.(m.progress);
      else if (m.type === 'report') p.settle(undefined, m.report);
      else if (m.type === 'error') {
        this.kill(); // never reused after a failure
        p.settle(new WorkerFailure(m.error));
      }
    });
    child.on('error', (err) => {
      // Never started: there will be no 'close' to clean up after it.
      if (child.pid === undefined) {
        this.ended = true;
        closeFds();
        home.remove();
        onEnd(this);
        ended();
      }
      this.kill();
      this.pending?.settle(new WorkerFailure({ name: 'WorkerError', code: 'AUDIT_CRASHED', message: `the audit worker could not run: ${err.message}` }));
    });
    // 'close', not 'exit': it comes after the IPC channel and stderr are drained, so no answer is missed.
    child.on('close', (code, signal) => {
      this.ended = true;
      closeFds();
      home.remove();
      onEnd(this);
      this.pending?.settle(new WorkerFailure(endedFailure(code, signal, this.stderrTail, this.seal.memoryBytes, this.pending.run.log)));
      ended();
    });
  }

  get alive(): boolean {
    return !this.ended && this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  /** While idle, the worker does not keep the service's process alive (it exits when the service's does). */
  hold(held: boolean): void {
    const handles = [this.child, this.child.channel, this.child.stderr as Socket | null];
    for (const h of handles) {
      if (held) h?.ref();
      else h?.unref();
    }
  }

  audit(request: WarmRequest, run: WarmRunOptions): Promise<AuditReport> {
    return new Promise<AuditReport>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        this.kill();
        settle(run.signal?.reason ?? new Error('aborted'));
      };
      const settle = (err: unknown, report?: AuditReport): void => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        if (timer) clearTimeout(timer);
        run.signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve(report as AuditReport);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort's StopReason, passed on as it is
        else reject(err);
      };
      const pending: Pending = { settle, run };
      this.pending = pending;
      this.stderrTail = ''; // a crash is judged by this audit's output only
      if (!this.alive) return settle(new WorkerFailure({ name: 'WorkerCrash', code: 'AUDIT_CRASHED', message: 'the audit worker ended before the audit started' }));
      if (run.signal?.aborted) return onAbort();
      run.signal?.addEventListener('abort', onAbort, { once: true });
      if (run.timeoutMs > 0) {
        timer = setTimeout(() => {
          this.kill();
          settle(new WorkerFailure(timeoutFailure(run.timeoutMs)));
        }, run.timeoutMs);
        timer.unref();
      }
      this.child.send(request, (err) => {
        if (!err) return;
        this.kill();
        settle(new WorkerFailure({ name: 'WorkerError', code: 'AUDIT_CRASHED', message: `the audit could not be sent to its worker: ${err.message}` }));
      });
    });
  }
}

/** Warm workers of one processor, taken for an audit and given back after it succeeds. */
export class WarmAuditPool {
  private readonly idle: WarmWorker[] = [];
  private readonly idleMs: number;
  private closed = false;

  constructor(options: WarmPoolOptions = {}) {
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** Runs an audit of the model file in a warm worker of `run.tenant`'s, or a fresh one. */
  async audit(modelPath: string, options: AuditOptions, fetchData: boolean, run: WarmRunOptions): Promise<AuditReport> {
    // The signal's reason (a StopReason such as 'cancelled') is what callers match on, not an Error.
    if (run.signal?.aborted) throw run.signal.reason;
    const seal = run.seal ?? { memoryBytes: 0, preflight: false, identity: null };
    // The parent reads the model: a worker may run as an account that cannot.
    const model = await readFile(modelPath);
    const samples = samplesFile(options.cifar10Dir);
    // All a worker was started with, and whose it is: a worker is reused only when all of it matches.
    const key = JSON.stringify([run.tenant, samples?.source ?? null, options.cifar10Dir ?? null, fetchData, seal.memoryBytes, seal.identity?.uid ?? null, run.niceness ?? 0]);
    const worker = this.take(key) ?? this.start(key, seal, samples, run.niceness);
    if (worker.child.pid !== undefined) run.onWorker?.(worker.child.pid);
    const request: WarmRequest = {
      type: 'warmAudit',
      model,
      options,
      fetchData,
      samples: samples ? { fd: SAMPLES_FD, source: samples.source } : null,
      memory: { limitBytes: seal.memoryBytes, preflight: seal.preflight },
    };
    try {
      const report = await worker.audit(request, run);
      this.giveBack(worker);
      return report;
    } catch (err) {
      worker.kill();
      throw err;
    }
  }

  /** Kills the idle workers and waits until they have ended; a busy one is killed when its audit ends. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    for (const w of idle) this.drop(w);
    await Promise.all(idle.map((w) => w.gone));
  }

  private take(key: string): WarmWorker | undefined {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const w = this.idle[i];
      if (w.key !== key || !w.alive) continue;
      this.idle.splice(i, 1);
      clearTimeout(w.idleTimer);
      w.hold(true);
      return w;
    }
    return undefined;
  }

  private start(key: string, seal: WorkerSeal, samples: { path: string; source: string } | null, niceness: number | undefined): WarmWorker {
    // The new worker takes the place of the oldest idle one: no more workers than audits at once.
    const oldest = this.idle.shift();
    if (oldest) this.drop(oldest);
    return new WarmWorker(key, seal, samples, niceness, (w) => this.forget(w));
  }

  private giveBack(w: WarmWorker): void {
    if (this.closed || !w.alive) return w.kill();
    w.hold(false);
    w.idleTimer = setTimeout(() => {
      this.forget(w);
      this.drop(w);
    }, this.idleMs);
    w.idleTimer.unref();
    this.idle.push(w);
  }

  private drop(w: WarmWorker): void {
    clearTimeout(w.idleTimer);
    // Held until it has ended, so whoever waits for that (close) keeps the process up meanwhile.
    w.hold(true);
    w.kill();
  }

  /** A worker that ended (killed, or died while idle) is no longer offered. */
  private forget(w: WarmWorker): void {
    clearTimeout(w.idleTimer);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
