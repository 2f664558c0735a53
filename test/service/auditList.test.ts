/**
 * GET /audits items carry the options each audit ran with and its headline results (clean
 * accuracy, worst amRel, robust accuracy; null where not measured), equal to its report's; and
 * the upload page, the API and the CLI share one set of defaults and choices.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { robustnessPlan } from '../../src/attacks/presets.js';
import { DEFAULT_AUDIT_OPTIONS, PREPROCESS_CHOICES, ROBUSTNESS_CHOICES } from '../../src/audit/options.js';
import type { AuditReport } from '../../src/audit/report.js';
import { loadCifar10Test } from '../../src/data/cifar10.js';
import { EXECUTION_PROVIDERS } from '../../src/runtime/session.js';
import { bundledModel, FGSM, STANDARD } from '../helpers/models.js';
import { JobDoc, pollJob, startTestService, TestService, upload } from './helpers.js';

interface ListItem {
  id: string;
  status: string;
  options: Record<string, unknown>;
  results: { cleanAccuracy: number; worstAmRel: number | null; worstAmRelNode: string | null; robustAccuracy: number | null } | null;
  progress: { percent: number; stage: string };
}

/** The largest amRel of a report and its op, computed here from the report itself. */
function worst(report: AuditReport): { value: number | null; node: string | null } {
  const measured = report.downsampling.filter((op) => op.amRel !== null);
  if (measured.length === 0) return { value: null, node: null };
  const top = measured.reduce((a, b) => (b.amRel! > a.amRel! ? b : a));
  return { value: top.amRel, node: top.node };
}

const dataMissing = await loadCifar10Test({ fetch: false }).then(
  () => false as const,
  (err: Error) => `no CIFAR-10 test set in the cache (npm run data fetches it): ${err.message.split('\n')[0]}`,
);

describe('GET /audits: options and headline results', { skip: dataMissing }, () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    if (!svc) return;
    assert.deepEqual(svc.responseViolations, [], 'every answer matches openapi.yaml');
    await svc.stop();
  });

  async function audited(model: string, fields: Record<string, string>): Promise<{ id: string; report: AuditReport; job: JobDoc }> {
    const res = await upload(svc.url, { model: bundledModel(model), filename: model, fields });
    assert.equal(res.status, 202, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    const job = await pollJob(svc.url, id, ['succeeded', 'failed'], 240_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    return { id, report: job.report as unknown as AuditReport, job };
  }

  async function list(query = ''): Promise<ListItem[]> {
    const res = await fetch(`${svc.url}/audits${query}`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: ListItem[] }).items;
  }

  test('an aliasing-only audit: its options, clean accuracy and worst amRel; no robust accuracy', { timeout: 300_000 }, async () => {
    const { id, report, job } = await audited(STANDARD, { samples: '100', preprocess: 'none' });
    const item = (await list()).find((i) => i.id === id);
    assert.ok(item, 'the audit is listed');
    assert.deepEqual(item.options, job.options, 'the options the job ran with');
    assert.equal(item.options.samples, 100);
    const top = worst(report);
    assert.ok(top.value !== null && top.value > 0, 'the model has measured strided ops');
    assert.deepEqual(item.results, { cleanAccuracy: report.cleanAccuracy, worstAmRel: top.value, worstAmRelNode: top.node, robustAccuracy: null });
  });

  test('an audit with attacks: its robust accuracy; filters by model and status keep the results', { timeout: 300_000 }, async () => {
    const { id, report } = await audited(FGSM, { samples: '60', preprocess: 'none', robustness: 'fast', attackSamples: '20', maxAmRel: '0.9' });
    assert.ok(report.robustness, 'the attacks ran');
    const sha = report.model.sha256;
    const items = await list(`?sha256=${sha}&status=succeeded&limit=5`);
    assert.equal(items[0]?.id, id, 'the newest succeeded audit of this model first');
    const top = worst(report);
    assert.deepEqual(items[0].results, {
      cleanAccuracy: report.cleanAccuracy,
      worstAmRel: top.value,
      worstAmRelNode: top.node,
      robustAccuracy: report.robustness.robustAccuracy,
    });
    assert.equal(report.thresholds?.maxAmRel?.worst, top.value, "the list's worst amRel is the report's own");
    assert.equal(items[0].options.robustness, 'fast');
  });

  test('queued and running audits have no results yet', { timeout: 300_000 }, async () => {
    // Two at once on one worker: the second waits in the queue while the first runs.
    const ids: string[] = [];
    for (const samples of ['300', '301']) {
      const res = await upload(svc.url, { model: bundledModel(STANDARD), filename: STANDARD, fields: { samples, preprocess: 'none' } });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const items = await list();
    const waiting = items.filter((i) => ids.includes(i.id) && i.status !== 'succeeded');
    assert.ok(waiting.length > 0, `at least the second is not done yet: ${items.map((i) => i.status).join(', ')}`);
    for (const item of waiting) assert.equal(item.results, null, `${item.status}: results are null`);
    for (const id of ids) await pollJob(svc.url, id, ['succeeded', 'failed'], 240_000);
    for (const item of (await list()).filter((i) => ids.includes(i.id))) assert.ok(item.results, 'results once it succeeded');
  });
});

describe('the upload page, the API and the CLI share their defaults', () => {
  let svc: TestService;
  let page = '';

  before(async () => {
    svc = await startTestService();
    page = await (await fetch(`${svc.url}/`)).text();
  });
  after(async () => {
    if (!svc) return;
    assert.deepEqual(svc.responseViolations, []);
    await svc.stop();
  });

  /** The attributes of the element with this id (the page's markup is ours and regular). */
  function attributes(id: string): Record<string, string> {
    const tag = new RegExp(`<(?:input|select)[^>]*\\bid="${id}"[^>]*>`).exec(page)?.[0];
    assert.ok(tag, `the page has #${id}`);
    return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  }

  function selectOptions(id: string): { values: string[]; selected: string[] } {
    const body = new RegExp(`<select[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</select>`).exec(page)?.[1];
    assert.ok(body !== undefined, `the page has the select #${id}`);
    const options = [...body.matchAll(/<option value="([^"]*)"( selected)?>/g)];
    return { values: options.map((m) => m[1]), selected: options.filter((m) => m[2]).map((m) => m[1]) };
  }

  test("the form's values and choices are the parser's defaults and choices", () => {
    assert.doesNotMatch(page, /\{\{\w+\}\}/, 'every slot of the template is filled');
    const d = DEFAULT_AUDIT_OPTIONS;
    assert.equal(attributes('opt-samples').value, String(d.samples));
    assert.equal(attributes('opt-batch').placeholder, String(d.batch));
    const plan = robustnessPlan('fast', {}, d.samples);
    assert.equal(attributes('opt-eps').placeholder, plan.epsText);
    assert.equal(attributes('opt-seed').placeholder, String(plan.seed));
    assert.equal(attributes('opt-eps').value, undefined, 'eps is sent only when changed');
    assert.match(attributes('opt-attack-samples').placeholder, new RegExp(`${robustnessPlan('fast', {}, 1e9).samples} \\(fast\\), ${robustnessPlan('standard', {}, 1e9).samples} \\(standard\\)`));
    assert.deepEqual(selectOptions('opt-preprocess'), { values: [...PREPROCESS_CHOICES], selected: [d.preprocess] });
    assert.deepEqual(selectOptions('opt-robustness'), { values: [...ROBUSTNESS_CHOICES], selected: [d.robustness] });
    assert.deepEqual(selectOptions('opt-ep'), { values: [...EXECUTION_PROVIDERS], selected: [d.ep] });
  });

  test("what the form sends untouched is what the API does with no options: the same audit", { skip: dataMissing }, async () => {
    const bare = await upload(svc.url, { model: bundledModel(STANDARD), filename: STANDARD });
    assert.equal(bare.status, 202);
    const first = (await bare.json()) as { id: string };
    // The fields index.js sends from an untouched form: the filled-in values, not the empty ones.
    const fields = {
      samples: attributes('opt-samples').value,
      preprocess: selectOptions('opt-preprocess').selected[0],
      robustness: selectOptions('opt-robustness').selected[0],
      ep: selectOptions('opt-ep').selected[0],
    };
    const fromPage = await upload(svc.url, { model: bundledModel(STANDARD), filename: STANDARD, fields });
    const second = (await fromPage.json()) as { id: string; cached: boolean };
    assert.equal(second.id, first.id, 'the same options: the stored audit answers');
    assert.equal(second.cached, true);
    const job = (await (await fetch(`${svc.url}/audits/${first.id}`)).json()) as JobDoc;
    assert.deepEqual(job.options, DEFAULT_AUDIT_OPTIONS);
    await fetch(`${svc.url}/audits/${first.id}`, { method: 'DELETE' });
  });

  test("the CLI's help names the same defaults", async () => {
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', main, 'audit', '--help']);
    const help = stdout.replace(/\s+/g, ' ');
    const stated = (flag: string): string => {
      const m = new RegExp(`${flag} <[^>]+> (?:(?!--[a-z]).)*?\\(default: ([^)]*)\\)`).exec(help);
      assert.ok(m, `audit --help states a default for ${flag}`);
      return m[1];
    };
    const d = DEFAULT_AUDIT_OPTIONS;
    assert.equal(stated('--samples'), String(d.samples));
    assert.equal(stated('--batch'), String(d.batch));
    assert.equal(stated('--preprocess'), d.preprocess);
    assert.equal(stated('--robustness'), d.robustness);
    assert.equal(stated('--ep'), d.ep);
    assert.equal(stated('--eps'), attributes('opt-eps').placeholder);
    assert.equal(stated('--seed'), attributes('opt-seed').placeholder);
  });
});
