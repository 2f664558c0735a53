/**
 * `alias-audit serve`: runs the HTTP service until SIGTERM or SIGINT, then shuts down
 * gracefully (running audits finish within the grace period, or go back to the queue).
 * Every flag also reads from the environment: `--max-upload` from ALIAS_AUDIT_MAX_UPLOAD, etc.
 */
import { parseArgs } from 'node:util';
import { DataDirInUseError } from '../service/dataDirLock.js';
import { applyConfigText, CONFIG_KEYS, ConfigText, configTextFromEnv, defaultConfig, ServiceConfig } from '../service/config.js';
import { startService } from '../service/server.js';

export const SERVE_USAGE = `usage: alias-audit serve [options]   (each option also as env ALIAS_AUDIT_<NAME>, e.g. ALIAS_AUDIT_DATA_DIR)
  --port P               TCP port (default 8080, env PORT too; 0 = any free port)
  --host H               address to bind (default 0.0.0.0)
  --data-dir D           jobs database, uploads, queued models (default ~/.local/share/alias-audit)
  --concurrency N        audits at once, each in a worker process (default: cores / 2, at least 1)
  --max-upload SIZE      largest model upload, e.g. 512MiB (default), 2GiB
  --audit-timeout T      per-audit time limit, e.g. 30m (default), 0 = none
  --max-queued N         waiting audits before 503 / not ready (default 100)
  --max-wait T           longest ?wait=true (default 10m)
  --api-keys K1,K2       require "Authorization: Bearer K" (keys >= 16 chars; default: open)
  --rate-limit-window T  rate-limit window (default 60s)
  --rate-limit-writes N  submissions + deletions per key or IP per window (default 30; 0 = off)
  --rate-limit-reads N   reads of /audits per key or IP per window (default 1200; 0 = off)
  --shutdown-grace T     on SIGTERM, time for running audits to finish before re-queueing (default 30s)
  --fetch-data BOOL      download the CIFAR-10 test set when missing (default true)
  --worker-niceness N    niceness of audit workers (default 10)
  --trust-proxy V        express "trust proxy" (default false)
  --access-log BOOL      one line per request on stdout (default false)`;

/** Thrown for a bad flag or value; main.ts turns it into exit code 2. */
export class ServeUsageError extends Error {}

/** Parses serve's flags over the environment's settings over the defaults. */
export function serveConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const options = Object.fromEntries(CONFIG_KEYS.map((k) => [k, { type: 'string' as const }]));
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ServeUsageError(`${(err as Error).message} (see alias-audit serve --help)`);
  }
  const fromFlags: ConfigText = {};
  for (const k of CONFIG_KEYS) if (values[k] !== undefined) fromFlags[k] = values[k];
  try {
    return applyConfigText(applyConfigText(defaultConfig(), configTextFromEnv(env)), fromFlags);
  } catch (err) {
    throw new ServeUsageError((err as Error).message);
  }
}

/** Runs the service; resolves with the exit code once it has shut down. */
export async function serveCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const config = serveConfig(args);
  let running: Awaited<ReturnType<typeof startService>>;
  try {
    running = await startService(config);
  } catch (err) {
    // The operator's setup, not a bug: exit 2 with one line.
    if (err instanceof DataDirInUseError) throw new ServeUsageError(err.message);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new ServeUsageError(`port ${config.port} on ${config.host} is already in use`);
    throw err;
  }
  const { requeued, failed, queued } = running.recovered;
  // The resume note first: "listening on" is the line that scripts wait for.
  if (queued > 0 || failed.length > 0) {
    process.stdout.write(`alias-audit: resumed ${queued} queued audit(s) (${requeued.length} interrupted), failed ${failed.length} after too many attempts\n`);
  }
  process.stdout.write(
    `alias-audit: listening on ${running.url} (data ${config.dataDir}, ${config.concurrency} audit worker${config.concurrency === 1 ? '' : 's'}` +
      `${config.apiKeys.length ? ', API keys required' : ''})\n`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`alias-audit: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      process.stdout.write(`alias-audit: ${signal}: shutting down (running audits get ${config.shutdownGraceMs / 1000} s)\n`);
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`alias-audit: shutdown failed: ${(err as Error).message}\n`);
          resolve(3);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
