/**
 * JUnit XML checked against our schema (test/fixtures/junit.xsd) with xmllint (libxml2-utils).
 * Without xmllint the check skips, except under CI, where it fails: CI installs it, so a
 * missing xmllint there is a broken setup, not a reason to stop checking.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const JUNIT_XSD = fileURLToPath(new URL('../fixtures/junit.xsd', import.meta.url));

/** CI=true (or any value but empty, 0 and false), as scripts/run-tests.mjs reads it. */
function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && !['', '0', 'false'].includes(ci.trim().toLowerCase());
}

/** True when xmllint runs; else skips the test (or fails it under CI) and returns false. */
export function needXmllint(t: Pick<TestContext, 'skip'>, command = 'xmllint'): boolean {
  const probe = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (probe.error === undefined && probe.status === 0) return true;
  if (inCi()) assert.fail('xmllint is missing under CI: install libxml2-utils (apt-get install -y libxml2-utils)');
  t.skip('xmllint is not installed (apt-get install -y libxml2-utils)');
  return false;
}

function xmlFile(xml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'alias-audit-junit-')), 'junit.xml');
  writeFileSync(file, xml);
  return file;
}

/** Asserts that the document validates against the JUnit schema. */
export function assertValidJunit(xml: string): void {
  const file = xmlFile(xml);
  const r = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `xmllint --schema junit.xsd: ${r.stderr}`);
  assert.match(r.stderr, /validates/);
}

/** The value of an XPath expression over the document (xmllint --xpath), as text (without the line break xmllint ends it with). */
export function xpath(xml: string, expression: string): string {
  const r = spawnSync('xmllint', ['--xpath', expression, xmlFile(xml)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `xmllint --xpath ${expression}: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '');
}
