/**
 * The report as JUnit XML (`--junit FILE`), the format CI test tabs read (GitLab, Jenkins,
 * GitHub test reporters): one testcase per gate (classname `alias-audit.gates`), one per
 * downsampling op (`alias-audit.ops`) and one per stage (`alias-audit.stages`), so a test tab
 * shows which layer regressed. An op or stage fails when it breaks an amRel gate; an op that
 * could not be measured is skipped with the reason.
 */
import { gateRows, GateRow } from '../audit/baseline.js';
import type { AuditReport, BaselineOpDelta, BaselineStageDelta, DownsamplingReport, StageReport } from '../audit/report.js';

/** Characters XML 1.0 cannot carry at all (controls, lone surrogates, U+FFFE/FFFF): replaced. */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Text for element content and attribute values alike (quotes escaped too; line breaks kept as references in attributes). */
export function xmlEscape(value: string, attribute = false): string {
  const s = value
    .replace(NOT_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
  // An attribute's raw line breaks and tabs are normalised to spaces by parsers: keep them as references.
  return attribute ? s.replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;') : s;
}

const num = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));
const signed = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(4)}`);

interface Case {
  classname: string;
  name: string;
  time?: number;
  failure?: { message: string; type: string; body: string };
  skipped?: string;
  out?: string;
}

function testcase(c: Case): string {
  const attrs = `classname="${xmlEscape(c.classname, true)}" name="${xmlEscape(c.name, true)}" time="${(c.time ?? 0).toFixed(3)}"`;
  const inner: string[] = [];
  if (c.failure) inner.push(`      <failure message="${xmlEscape(c.failure.message, true)}" type="${xmlEscape(c.failure.type, true)}">${xmlEscape(c.failure.body)}</failure>`);
  if (c.skipped !== undefined) inner.push(`      <skipped message="${xmlEscape(c.skipped, true)}"/>`);
  if (c.out) inner.push(`      <system-out>${xmlEscape(c.out)}</system-out>`);
  return inner.length === 0 ? `    <testcase ${attrs}/>` : `    <testcase ${attrs}>\n${inner.join('\n')}\n    </testcase>`;
}

function suite(name: string, cases: Case[], timestamp: string | undefined, time: number): string {
  const failures = cases.filter((c) => c.failure).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const ts = timestamp ? ` timestamp="${xmlEscape(timestamp, true)}"` : '';
  const head = `  <testsuite name="${xmlEscape(name, true)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time.toFixed(3)}"${ts}>`;
  return cases.length === 0 ? `${head}\n  </testsuite>` : `${head}\n${cases.map(testcase).join('\n')}\n  </testsuite>`;
}

function gateCase(r: GateRow): Case {
  const detail = r.detail ? ` (${r.detail})` : '';
  const line = `${r.flag}: value ${num(r.value)}, limit ${r.limit}${detail}: ${r.passed ? 'pass' : 'fail'}`;
  return {
    classname: 'alias-audit.gates',
    name: r.gate,
    ...(r.passed ? {} : { failure: { message: r.value === null ? `${r.flag} ${r.limit} fails: ${r.detail ?? 'nothing was measured'}` : `value ${num(r.value)} breaks limit ${r.limit}${detail}`, type: r.gate, body: line } }),
    out: line,
  };
}

function opCase(op: DownsamplingReport, report: AuditReport, d: BaselineOpDelta | undefined): Case {
  const lines = [
    `${op.op} stride ${op.stride.join('x')} kernel ${op.kernel.join('x')}, stage ${op.stage}, output ${op.outputShape.join('x')}`,
    `am ${num(op.am)}  amRel ${num(op.amRel)}  aliasEnergy ${num(op.aliasEnergy)}`,
  ];
  if (d) {
    lines.push(`baseline ${d.baselineNode} (matched by ${d.matchedBy}): am ${num(d.am.baseline)}  amRel ${num(d.amRel.baseline)}  aliasEnergy ${num(d.aliasEnergy.baseline)}`);
    lines.push(`delta: am ${signed(d.am.delta)}  amRel ${signed(d.amRel.delta)}  aliasEnergy ${signed(d.aliasEnergy.delta)}`);
  }
  const c: Case = { classname: 'alias-audit.ops', name: op.node, out: lines.join('\n') };
  if (op.error !== undefined || op.amRel === null) {
    c.skipped = `not measured: ${op.error ?? 'no value'}`;
    return c;
  }
  const reasons: string[] = [];
  const abs = report.thresholds?.maxAmRel;
  if (abs && op.amRel > abs.limit) reasons.push(`amRel ${num(op.amRel)} exceeds --max-am-rel ${abs.limit}`);
  const inc = report.thresholds?.maxAmRelIncrease;
  if (inc && d?.amRel.delta != null && d.amRel.delta > inc.limit) reasons.push(`amRel rose by ${num(d.amRel.delta)} (${num(d.amRel.baseline)} -> ${num(d.amRel.current)}), more than --max-am-rel-increase ${inc.limit}`);
  if (reasons.length > 0) c.failure = { message: reasons.join('; '), type: 'amRel', body: lines.join('\n') };
  return c;
}

function stageCase(s: StageReport, report: AuditReport, d: BaselineStageDelta | undefined): Case {
  const lines = [`resolution ${s.resolution.join('x')}, ops ${s.ops.join(', ')}`, `am ${num(s.am)}  amRel ${num(s.amRel)}  aliasEnergy ${num(s.aliasEnergy)}`];
  if (d) lines.push(`baseline: am ${num(d.am.baseline)}  amRel ${num(d.amRel.baseline)}  aliasEnergy ${num(d.aliasEnergy.baseline)}`, `delta: am ${signed(d.am.delta)}  amRel ${signed(d.amRel.delta)}  aliasEnergy ${signed(d.aliasEnergy.delta)}`);
  const c: Case = { classname: 'alias-audit.stages', name: `stage ${s.stage}`, out: lines.join('\n') };
  const inc = report.thresholds?.maxAmRelIncrease;
  if (inc && d?.amRel.delta != null && d.amRel.delta > inc.limit) {
    c.failure = { message: `amRel rose by ${num(d.amRel.delta)} (${num(d.amRel.baseline)} -> ${num(d.amRel.current)}), more than --max-am-rel-increase ${inc.limit}`, type: 'amRel', body: lines.join('\n') };
  }
  return c;
}

export interface JunitOptions {
  /** The model's name for the suites' names (e.g. the file name). */
  modelName?: string;
  /** ISO time of the run, for the suites' `timestamp`. */
  timestamp?: string;
}

/** The report as a JUnit XML document. */
export function renderJunit(report: AuditReport, options: JunitOptions = {}): string {
  const model = options.modelName ?? report.model.sha256.slice(0, 12);
  const opDelta = new Map(report.baseline?.ops.map((d) => [d.node, d]) ?? []);
  const stageDelta = new Map(report.baseline?.stages.map((d) => [d.stage, d]) ?? []);
  const gates = gateRows(report.thresholds).map(gateCase);
  const ops = report.downsampling.map((op) => opCase(op, report, opDelta.get(op.node)));
  const stages = report.stages.map((s) => stageCase(s, report, stageDelta.get(s.stage)));
  const total = report.timings.totalSeconds;
  const suites = [suite(`alias-audit gates: ${model}`, gates, options.timestamp, 0), suite(`alias-audit ops: ${model}`, ops, options.timestamp, total), suite(`alias-audit stages: ${model}`, stages, options.timestamp, 0)];
  const all = [...gates, ...ops, ...stages];
  const failures = all.filter((c) => c.failure).length;
  const skipped = all.filter((c) => c.skipped !== undefined).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="alias-audit" tests="${all.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${total.toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
