/** openapi.yaml, the API's single source of truth: found beside package.json, parsed once. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The file: two folders up from here in both src/service and dist/service. */
export const SPEC_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export interface ApiSpec {
  text: string;
  /** Parsed document (OpenAPI 3.0). */
  document: { openapi: string; paths: Record<string, Record<string, unknown>>; [key: string]: unknown };
}

let cached: ApiSpec | undefined;

export function loadSpec(): ApiSpec {
  if (!cached) {
    const text = readFileSync(SPEC_PATH, 'utf8');
    cached = { text, document: parse(text) as ApiSpec['document'] };
  }
  return cached;
}
