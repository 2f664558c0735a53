/**
 * Which GPU execution providers start on this machine, found out in a short-lived child process.
 *
 * Starting a provider that cannot run is noisy in native code that Node cannot silence: ONNX
 * Runtime, Dawn (WebGPU) and the Vulkan loader write straight to file descriptor 2. The child
 * tries each provider on a one-node model with its stderr captured; we keep what it said as the
 * reason a provider did not start, and open in this process only the providers that started
 * there. The answer is kept for the life of the process.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts each line of the child's own records on its stderr; everything else there is native output. */
export const PROBE_RECORD_PREFIX = 'alias-audit-probe ';

/** A child that has not answered for this long is killed, and the provider it was trying fails. */
const PROBE_TIMEOUT_MS = 60_000;
/** At most this much of the native output of one attempt goes into a reason. */
const DETAIL_MAX_CHARS = 300;

export type ProviderProbeOutcome = { ok: true } | { ok: false; reason: string };

/** One line the child writes: that it is ready (ONNX Runtime loaded), or one provider's result. */
export type ProbeRecord = { ready: true } | { provider: string; ok: true } | { provider: string; ok: false; error: string };

/** How one child ended, as the parent saw it. */
export interface ProbeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Set when the child could not be started at all. */
  spawnError?: string;
}

/** What one child's transcript says: results for the providers it answered, and the rest. */
export interface ProbeReading {
  outcomes: Map<string, ProviderProbeOutcome>;
  /** Providers the child never reached (it died on an earlier one): worth another child. */
  unreached: string[];
}

/**
 * Reads a probe child's stderr. The child tries the providers in order and writes a record after
 * each attempt, so the native lines since the previous record belong to that attempt. A child
 * that dies mid-attempt blames the provider it was trying; those after it were not reached.
 */
export function readProbeTranscript(stderr: string, providers: readonly string[], exit: ProbeExit): ProbeReading {
  const outcomes = new Map<string, ProviderProbeOutcome>();
  let native: string[] = [];
  let ready = false;
  for (const line of stderr.split('\n')) {
    const record = line.startsWith(PROBE_RECORD_PREFIX) ? parseRecord(line.slice(PROBE_RECORD_PREFIX.length)) : undefined;
    if (!record) {
      if (line.trim()) native.push(line);
      continue;
    }
    if ('ready' in record) ready = true;
    else if (providers.includes(record.provider) && !outcomes.has(record.provider)) {
      outcomes.set(record.provider, record.ok ? { ok: true } : { ok: false, reason: withDetail(conciseRuntimeError(record.error), native) });
    }
    native = [];
  }
  const pending = providers.filter((p) => !outcomes.has(p));
  if (!pending.length) return { outcomes, unreached: [] };
  if (!ready) {
    // ONNX Runtime itself did not load in the child: no provider was tried, none is blamed for it.
    const reason = withDetail(`the provider probe did not run: ${howItEnded(exit)}`, native);
    for (const p of pending) outcomes.set(p, { ok: false, reason });
    return { outcomes, unreached: [] };
  }
  const [current, ...rest] = pending;
  outcomes.set(current, { ok: false, reason: withDetail(`starting ${current} ${howItEnded(exit)}`, native) });
  return { outcomes, unreached: rest };
}

function parseRecord(json: string): ProbeRecord | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const r = value as Record<string, unknown>;
    if (r.ready === true) return { ready: true };
    if (typeof r.provider !== 'string') return undefined;
    if (r.ok === true) return { provider: r.provider, ok: true };
    if (r.ok === false) return { provider: r.provider, ok: false, error: typeof r.error === 'string' ? r.error : 'unknown error' };
  } catch {
    // Not one of ours after all: a native line that happens to start like a record.
  }
  return undefined;
}

function howItEnded(exit: ProbeExit): string {
  if (exit.spawnError) return `could not start a process (${exit.spawnError})`;
  if (exit.timedOut) return `did not finish within ${PROBE_TIMEOUT_MS / 1000} s`;
  if (exit.signal) return `crashed the probe process (${exit.signal})`;
  return `ended the probe process (exit code ${exit.code})`;
}

/**
 * The part of an ONNX Runtime error a reader can use. Its checks read `file.cc:123 function
 * condition was false. message`; the message after the failed condition is what went wrong.
 */
export function conciseRuntimeError(message: string): string {
  const line = message.split('\n').map((l) => l.trim()).find(Boolean) ?? 'unknown error';
  if (!/^\S+\.(cc|cpp|h):\d+ /.test(line)) return line;
  const failed = line.indexOf(' was false. ');
  return failed >= 0 ? line.slice(failed + ' was false. '.length).trim() || line : line;
}

/**
 * The native lines of one attempt, shortened: their leading lines only (indented lines and
 * ` - While ...` are Dawn's context and source locations), each once. Dawn's own messages
 * (`Warning: ...`, `Error: ...`) name the cause, so when there are any only they are kept;
 * other libraries' lines (Mesa's `error: XDG_RUNTIME_DIR ...`) come in only without them.
 */
export function nativeDetail(lines: readonly string[]): string {
  const heads = [...new Set(lines.filter((l) => /^\S/.test(l) && !l.startsWith('- ')).map((l) => l.trim()))];
  const dawn = heads.filter((l) => /^(Warning|Error): /.test(l));
  const kept = (dawn.length ? dawn : heads).map((l) => l.replace(/^(warning|error): /i, ''));
  const text = kept.join('; ');
  return text.length > DETAIL_MAX_CHARS ? `${text.slice(0, DETAIL_MAX_CHARS - 3)}...` : text;
}

function withDetail(reason: string, native: readonly string[]): string {
  const detail = nativeDetail(native);
  return detail ? `${reason} (${detail})` : reason;
}

/**
 * The probe child's file and the node flags it needs: the `.js` beside this file in dist/, or,
 * run from source (tests under tsx), the `.ts` file with tsx's loader, resolved from here so that
 * the child finds it whatever its working directory.
 */
export function probeChildCommand(): { file: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`./providerProbeChild.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return { file, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

/** Runs one probe child on the providers, in order, and reads what it wrote. */
function runProbeChild(providers: readonly string[]): Promise<ProbeReading> {
  return new Promise((resolve) => {
    const { file, execArgv } = probeChildCommand();
    // Explicit execArgv: the child must not inherit this process's flags (e.g. node --test's).
    const child = spawn(process.execPath, [...execArgv, file, ...providers], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    let spawnError: string | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, PROBE_TIMEOUT_MS);
    timer.unref();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (err) => {
      spawnError = err.message;
    });
    // 'close' comes after stderr is drained (and after 'error' when the spawn itself failed).
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(readProbeTranscript(stderr, providers, { code, signal, timedOut, spawnError }));
    });
  });
}

/** Probes the providers, another child for those a crashed child did not reach. */
async function probeAll(providers: readonly string[]): Promise<Map<string, ProviderProbeOutcome>> {
  const outcomes = new Map<string, ProviderProbeOutcome>();
  let remaining = [...providers];
  while (remaining.length) {
    const reading = await runProbeChild(remaining);
    for (const [p, o] of reading.outcomes) outcomes.set(p, o);
    remaining = reading.unreached;
  }
  return outcomes;
}

/** Outcomes per provider for this process; a provider is probed once, whoever asks first. */
const probed = new Map<string, Promise<ProviderProbeOutcome>>();

/** Whether each provider starts here: probed in one child for those not yet known, then kept. */
export async function probeProviders(providers: readonly string[]): Promise<Map<string, ProviderProbeOutcome>> {
  const unknown = providers.filter((p) => !probed.has(p));
  if (unknown.length) {
    const run = probeAll(unknown);
    for (const p of unknown) probed.set(p, run.then((m) => m.get(p) ?? { ok: false, reason: 'the provider probe gave no answer' }));
  }
  const outcomes = await Promise.all(providers.map((p) => probed.get(p) as Promise<ProviderProbeOutcome>));
  return new Map(providers.map((p, i) => [p, outcomes[i]]));
}
