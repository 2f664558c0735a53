/**
 * The JUnit writer: one testcase per gate, op and stage; failures carry the numbers; whatever a
 * model names is escaped; and the document validates against the JUnit schema CI servers read
 * (test/fixtures/junit.xsd, checked with xmllint), which itself refuses what they cannot read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compareWithBaseline, evaluateGates } from '../../src/audit/baseline.js';
import { renderJunit, xmlEscape } from '../../src/report/junit.js';
import { op, report } from '../audit/baselineFixture.js';
import { assertValidJunit, JUNIT_XSD, needXmllint, xpath } from './xmllint.js';

/** Node names as hostile as a model may carry: markup, quotes, entities, a control character, a lone surrogate, CDATA's end. */
const EVIL = ['<script>"x" & \'y\'</script>', 'a]]>b\u0001c\n\td', 'lone\uD800surrogate'];

function gated(): ReturnType<typeof report> {
  const base = report([0.2, 0.3, 0.4, 0.4], { cleanAccuracy: 0.6 });
  const cur = report([0.25, 0.3, 0.5, 0.3], { cleanAccuracy: 0.45 });
  cur.downsampling.push(op(EVIL[0], 3, 0.9), op(EVIL[1], 3, 0.1), op(EVIL[2], 3, null, { error: 'twin <broke> & "failed"' }));
  cur.thresholds = { maxAmRel: { limit: 0.6, worst: 0.9, worstNode: EVIL[0], passed: false } };
  cur.baseline = compareWithBaseline(cur, base);
  cur.thresholds = evaluateGates(cur, { maxAmRelIncrease: 0.05, maxAccuracyDrop: 0.1 });
  return cur;
}

describe('renderJunit', () => {
  it('has a testcase per gate, op and stage, with failures where the gates fail', () => {
    const xml = renderJunit(gated(), { modelName: 'new.onnx', timestamp: '2026-12-03T10:00:00.000Z' });
    const count = (re: RegExp): number => xml.match(re)?.length ?? 0;
    assert.equal(count(/<testcase classname="alias-audit\.gates"/g), 3);
    assert.equal(count(/<testcase classname="alias-audit\.ops"/g), 7);
    assert.equal(count(/<testcase classname="alias-audit\.stages"/g), 2);
    // Gates: maxAmRel (0.9 > 0.6) and maxAmRelIncrease (+0.1 > 0.05) and maxAccuracyDrop (0.15 > 0.1) fail;
    // ops: /l2/shortcut/Conv (+0.1) and EVIL[0] (0.9 > 0.6); stages: none (means +0.025, 0).
    assert.equal(count(/<failure /g), 5);
    assert.equal(count(/<skipped /g), 1);
    assert.match(xml, /<testsuites name="alias-audit" tests="12" failures="5" errors="0" skipped="1"/);
    assert.match(xml, /name="\/l2\/shortcut\/Conv"[^>]*>\s*<failure message="amRel rose by 0\.1000 \(0\.4000 -&gt; 0\.5000\), more than --max-am-rel-increase 0\.05"/);
    assert.match(xml, /name="maxAccuracyDrop"[^>]*>\s*<failure message="value 0\.1500 breaks limit 0\.1"/);
    assert.ok(!xml.includes('<script>'), 'markup in names is escaped');
    assert.ok(!xml.includes('\u0001'), 'characters XML cannot carry are replaced');
  });

  it('validates against the JUnit schema, and names survive the round trip', (t) => {
    if (!needXmllint(t)) return;
    const xml = renderJunit(gated(), { modelName: 'new & <old>.onnx', timestamp: '2026-12-03T10:00:00.000Z' });
    assertValidJunit(xml);
    const names = xpath(xml, '//testcase[@classname="alias-audit.ops"]/@name');
    assert.ok(names.includes('name="&lt;script&gt;&quot;x&quot; &amp; \'y\'&lt;/script&gt;"'), names);
    assert.equal(xpath(xml, 'string(//testcase[@classname="alias-audit.ops"][6]/@name)'), 'a]]>b\uFFFDc\n\td');
    assert.equal(xpath(xml, 'string(//testcase[@classname="alias-audit.ops"][7]/skipped/@message)'), 'not measured: twin <broke> & "failed"');
    // A report without gates or baseline: an empty gates suite, still valid.
    assertValidJunit(renderJunit(report([0.2])));
  });

  it('the schema refuses what CI servers cannot read', (t) => {
    if (!needXmllint(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'alias-audit-xsd-'));
    const bad = [
      '<testsuites><testsuite name="s" tests="x"/></testsuites>',
      '<testsuites><testsuite name="s" tests="1"><testcase classname="c"/></testsuite></testsuites>',
      '<testsuites><testsuite name="s" tests="1"><testcase name="n"><oops/></testcase></testsuite></testsuites>',
      '<testsuites><testsuite name="s" tests="1"><testcase name="n" time="-1"/></testsuite></testsuites>',
      '<report/>',
    ];
    bad.forEach((doc, i) => {
      const file = join(dir, `bad${i}.xml`);
      writeFileSync(file, doc);
      const r = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, file], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `refused: ${doc}`);
    });
  });
});

describe('needXmllint', () => {
  it('without xmllint: skips outside CI, fails under CI', () => {
    const saved = process.env.CI;
    const missing = 'alias-audit-no-such-xmllint';
    try {
      let skipped: string | undefined;
      process.env.CI = 'false';
      assert.equal(needXmllint({ skip: (m?: string) => void (skipped = m) }, missing), false);
      assert.match(skipped ?? '', /not installed/);
      process.env.CI = 'true';
      assert.throws(() => needXmllint({ skip: () => assert.fail('must not skip under CI') }, missing), /xmllint is missing under CI/);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });
});

describe('xmlEscape', () => {
  it('escapes markup and quotes, keeps line breaks in attributes as references', () => {
    assert.equal(xmlEscape('<a href="x">&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
    assert.equal(xmlEscape('a\nb\tc', true), 'a&#10;b&#9;c');
    assert.equal(xmlEscape('a\nb'), 'a\nb');
    assert.equal(xmlEscape('\u0000\u001f\uFFFE\uD800x\u{1F600}'), '\uFFFD\uFFFD\uFFFD\uFFFDx\u{1F600}');
  });
});
