/**
 * Long fuzz campaigns: `npm run fuzz -- --runs N [--http M] [--seed S]`.
 *
 * Decoder: N hostile models (test/fuzz/modelFuzz.ts) decoded and inspected in process; counts
 * of decoded, refused by ModelError code, and anything else thrown (a bug), and the slowest.
 * HTTP: M uploads to a test server (hostile models with odd file names, and malformed multipart
 * bodies on raw sockets); counts by status and problem code. Any 5xx or thrown error fails the
 * run (exit 1). M defaults to N/50, at most 2,000.
 */
import fc from 'fast-check';
import { DECODE_BOUND_MS, hostileModel, judge, seedModels } from './modelFuzz.js';
import { fuzzUploads, serverErrorCount } from './uploadFuzz.js';
import { startTestService } from '../service/helpers.js';

function argument(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`fuzz: --${name} takes a whole number`);
    process.exit(2);
  }
  return value;
}

const runs = argument('runs') ?? 1000;
const httpRuns = argument('http') ?? Math.min(2000, Math.floor(runs / 50));
const seed = argument('seed') ?? Date.now() % 2 ** 31;

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function table(map: Map<string, number>): string {
  return [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${k.padEnd(36)} ${v}`).join('\n');
}

function decoderCampaign(): boolean {
  const seeds = seedModels();
  const outcomes = new Map<string, number>();
  let slowest = 0;
  const failures: string[] = [];
  const started = performance.now();
  const batch = 500;
  for (let done = 0; done < runs; done += batch) {
    for (const bytes of fc.sample(hostileModel(seeds), { numRuns: Math.min(batch, runs - done), seed: seed + done })) {
      const t0 = performance.now();
      const outcome = judge(bytes);
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (outcome.kind === 'thrown') {
        count(outcomes, 'THROWN (bug)');
        if (failures.length < 5) failures.push(String((outcome.error as Error).stack ?? outcome.error));
      } else count(outcomes, outcome.kind === 'decoded' ? 'decoded ok' : `refused ${outcome.code}`);
      if (ms > DECODE_BOUND_MS) count(outcomes, `over ${DECODE_BOUND_MS} ms (bug)`);
    }
    if ((done + batch) % 10_000 === 0 && done + batch < runs) console.log(`decoder: ${done + batch} runs so far\n${table(outcomes)}`);
  }
  console.log(`decoder: ${runs} runs, seed ${seed}, ${((performance.now() - started) / 1000).toFixed(1)} s, slowest ${slowest.toFixed(0)} ms`);
  console.log(table(outcomes));
  for (const f of failures) console.log(f);
  return failures.length === 0 && slowest <= DECODE_BOUND_MS;
}

async function httpCampaign(): Promise<boolean> {
  if (httpRuns === 0) return true;
  const svc = await startTestService({ maxUploadBytes: 8 * 1024 * 1024, maxQueued: 100_000, accessLog: false });
  const started = performance.now();
  let outcomes: Map<string, number>;
  try {
    outcomes = await fuzzUploads(svc.url, httpRuns, seed);
  } finally {
    await svc.stop();
  }
  const serverErrors = serverErrorCount(outcomes);
  console.log(`http: ${httpRuns} uploads, seed ${seed}, ${((performance.now() - started) / 1000).toFixed(1)} s, ${serverErrors} answers of 5xx or none`);
  console.log(table(outcomes));
  return serverErrors === 0;
}

const decoderOk = decoderCampaign();
const httpOk = await httpCampaign();
process.exit(decoderOk && httpOk ? 0 : 1);
