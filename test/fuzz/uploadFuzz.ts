/**
 * Hostile uploads to a running service: hostile models (test/fuzz/modelFuzz.ts) sent as clients
 * send them, some with odd file names, and broken multipart bodies on raw sockets (cut short,
 * garbage part headers, a wrong boundary, encoded CR/LF/NUL names, a Content-Length over the
 * limit). The answer to each is counted by status and problem code.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { hostileModel, seedModels } from './modelFuzz.js';

const BOUNDARY = 'fuzzBoundary';
const FILENAMES = ['model.onnx', 'a\r\nb.onnx', 'a\u0000b', '../../etc/passwd', '%00', 'ü.onnx', '', 'x'.repeat(300)];

/** A raw multipart body, maybe broken: garbage headers, cut short, wrong boundary, odd names. */
function rawBody(model: Uint8Array, kind: number, filename: string): Buffer {
  const disposition = `Content-Disposition: form-data; name="model"; filename="${filename}"`;
  const good = Buffer.concat([Buffer.from(`--${BOUNDARY}\r\n${disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`, 'latin1'), model, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
  switch (kind) {
    case 0:
      return good.subarray(0, Math.floor(good.length / 2));
    case 1:
      return Buffer.from(`--${BOUNDARY}\r\n\u0001\u0002 not a header\r\n\r\n`, 'latin1');
    case 2:
      return Buffer.concat([Buffer.from(`--other\r\n${disposition}\r\n\r\n`, 'latin1'), model]);
    case 3:
      return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"; filename*=utf-8''a%0D%0A%00\r\n\r\nxx\r\n--${BOUNDARY}--\r\n`, 'latin1');
    default:
      return good;
  }
}

function rawPost(port: number, body: Buffer, declaredLength?: number): Promise<{ status: number; code: string }> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${declaredLength ?? body.length}\r\nConnection: close\r\n\r\n`);
      socket.write(body);
    });
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), 30_000);
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '';
      resolve({ status, code });
    });
  });
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Answers of 5xx, or none at all (a dropped connection), among the counted outcomes. */
export function serverErrorCount(outcomes: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const [key, v] of outcomes) if (Number(key.split(' ')[0]) >= 500 || key.startsWith('0')) n += v;
  return n;
}

/**
 * Sends `runs` hostile uploads to the service at `base`; counts answers as "STATUS CODE".
 * An accepted audit is deleted at once: the campaign tests the door, not the audits.
 */
export async function fuzzUploads(base: string, runs: number, seed: number): Promise<Map<string, number>> {
  const port = Number(new URL(base).port);
  const outcomes = new Map<string, number>();
  const models = fc.sample(hostileModel(seedModels()), { numRuns: runs, seed });
  const choices = fc.sample(fc.tuple(fc.nat({ max: 9 }), fc.nat({ max: FILENAMES.length - 1 })), { numRuns: runs, seed: seed + 1 });
  for (let i = 0; i < runs; i++) {
    const [kind, nameIndex] = choices[i];
    let status: number;
    let code: string;
    let location: string | null = null;
    if (kind >= 5) {
      const form = new FormData();
      form.set('model', new Blob([new Uint8Array(models[i])]), kind === 9 ? FILENAMES[nameIndex] : 'model.onnx');
      const res = await fetch(`${base}/audit`, { method: 'POST', body: form });
      status = res.status;
      code = /"code":"([A-Z_]+)"/.exec(await res.text())?.[1] ?? '';
      location = res.headers.get('location');
    } else if (kind === 4) {
      ({ status, code } = await rawPost(port, Buffer.alloc(16), 64 * 1024 * 1024));
    } else {
      ({ status, code } = await rawPost(port, rawBody(models[i], kind, FILENAMES[nameIndex])));
    }
    count(outcomes, `${status}${code ? ` ${code}` : ''}`);
    if (location) await fetch(`${base}${location}`, { method: 'DELETE' });
  }
  return outcomes;
}
