import { readFileSync } from 'node:fs';

/** Our version, from package.json (two levels up from both src/audit and dist/audit). */
export const TOOL_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
