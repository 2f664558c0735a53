/**
 * Authorization, generated from openapi.yaml: every operation it lists is called with no key, a
 * wrong key, another tenant's key, the owner's key and an admin key, and must answer as its
 * `security` says. A new route is covered by itself; one that needs a request body or a path
 * parameter this file cannot build fails here until it is taught how (REQUEST_BODIES, PATH_IDS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadSpec } from '../../src/service/spec.js';
import { bundledModel, STANDARD } from '../helpers/models.js';
import { startTestService, TestService } from './helpers.js';

const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdef';
const ADMIN_KEY = 'ops-key-0123456789abcdef';
const WRONG_KEY = 'not-a-key-0123456789abcdef';

type Caller = 'none' | 'wrong' | 'other' | 'owner' | 'admin';
const CALLERS: Caller[] = ['none', 'wrong', 'other', 'owner', 'admin'];
const KEY_OF: Record<Caller, string | undefined> = { none: undefined, wrong: WRONG_KEY, other: BOB_KEY, owner: ALICE_KEY, admin: ADMIN_KEY };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  path: string;
  method: (typeof METHODS)[number];
  id: string;
  isPublic: boolean;
  /** The path has a resource id (a job or a run of the owner). */
  hasId: boolean;
  hasBody: boolean;
  /** Path parameters: the name in the path and the component that describes it. */
  pathParams: { name: string; component: string }[];
}

interface RawOperation {
  operationId?: string;
  security?: unknown[];
  requestBody?: unknown;
  parameters?: RawParameter[];
}

interface RawParameter {
  $ref?: string;
  in?: string;
  name?: string;
}

/** Path parameters by their component's name: which of the owner's resources fills them. */
const PATH_IDS: Record<string, 'job' | 'run'> = { JobId: 'job', RunId: 'run' };

let epoch = 0;
/** How to build each operation's body, given the caller's key (signIn carries it in the body). */
const REQUEST_BODIES: Record<string, (key: string | undefined) => { body: FormData | string; type?: string }> = {
  submitAudit: () => ({ body: form({ samples: '20', preprocess: 'none' }) }),
  postCheckpoint: () => ({ body: form({ epoch: String(++epoch) }) }),
  createRun: () => ({ body: JSON.stringify({ name: 'authz', samples: 10, preprocess: 'none' }), type: 'application/json' }),
  signIn: (key) => ({ body: JSON.stringify(key === undefined ? {} : { key }), type: 'application/json' }),
};

/** Operations whose key travels in the body, not in `Authorization`: what each caller gets. */
const BODY_CREDENTIALS: Record<string, Record<Caller, (status: number) => boolean>> = {
  signIn: { none: (s) => s === 400, wrong: (s) => s === 401, other: (s) => s === 201, owner: (s) => s === 201, admin: (s) => s === 201 },
};

function form(fields: Record<string, string>): FormData {
  const f = new FormData();
  f.set('model', new Blob([bundledModel(STANDARD)]), 'model.onnx');
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  return f;
}

/** Every operation of openapi.yaml. */
function operations(): Operation[] {
  const doc = loadSpec().document;
  const components = ((doc.components as { parameters?: Record<string, RawParameter> } | undefined)?.parameters ?? {});
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = (item as { parameters?: RawParameter[] }).parameters ?? [];
    for (const method of METHODS) {
      const op = item[method] as RawOperation | undefined;
      if (!op) continue;
      const pathParams = [...shared, ...(op.parameters ?? [])].flatMap((p) => {
        const component = p.$ref?.split('/').pop() ?? `${p.name} (inline)`;
        const resolved = p.$ref ? components[component] : p;
        return resolved?.in === 'path' ? [{ name: resolved.name ?? '', component }] : [];
      });
      out.push({
        path,
        method,
        id: op.operationId ?? `${method} ${path}`,
        // `security: []` on the operation: anyone (the document's default asks for a key when keys are on).
        isPublic: Array.isArray(op.security) && op.security.length === 0,
        hasId: pathParams.length > 0,
        hasBody: op.requestBody !== undefined,
        pathParams,
      });
    }
  }
  // Deletions last, so the owner's resources exist for every other call.
  return out.sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
}

describe('authorization of every operation in openapi.yaml', () => {
  let svc: TestService;
  let base: string;
  const owned = { job: '', run: '' };

  const call = async (op: Operation, caller: Caller): Promise<{ status: number; text: string }> => {
    const key = KEY_OF[caller];
    let url = `${base}${op.path}`;
    for (const { name, component } of op.pathParams) {
      const kind = PATH_IDS[component];
      assert.ok(kind, `${op.id}: no fixture for the path parameter ${component}; add it to PATH_IDS`);
      url = url.replace(`{${name}}`, owned[kind]);
    }
    assert.ok(!url.includes('{'), `${op.id}: a path parameter of ${op.path} was not filled`);
    const headers: Record<string, string> = {};
    let body: FormData | string | undefined;
    if (op.hasBody) {
      const build = REQUEST_BODIES[op.id];
      assert.ok(build, `${op.id} takes a request body: teach REQUEST_BODIES how to build one`);
      const built = build(key);
      body = built.body;
      if (built.type) headers['content-type'] = built.type;
    }
    if (key !== undefined && !(op.id in BODY_CREDENTIALS)) headers.authorization = `Bearer ${key}`;
    const res = await fetch(url, { method: op.method.toUpperCase(), headers, body, redirect: 'manual', signal: AbortSignal.timeout(120_000) });
    return { status: res.status, text: await res.text() };
  };

  before(async () => {
    svc = await startTestService({ apiKeys: [`alice:${ALICE_KEY}`, `bob:${BOB_KEY}`], adminKeys: [`ops:${ADMIN_KEY}`] });
    base = svc.url;
    const auth = { authorization: `Bearer ${ALICE_KEY}` };
    // The owner's audit, finished (so its report and events answer 200), and its run.
    const audit = await fetch(`${base}/audit?wait=true&timeout=120`, { method: 'POST', headers: auth, body: form({ samples: '20', preprocess: 'none' }) });
    assert.equal(audit.status, 200, await audit.clone().text());
    owned.job = audit.headers.get('location')!.split('/').pop()!;
    const run = await fetch(`${base}/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', samples: 10, preprocess: 'none' }) });
    assert.equal(run.status, 201);
    owned.run = ((await run.json()) as { id: string }).id;
  });
  after(() => svc?.stop());

  const ops = operations();

  it('the spec lists the routes this test must cover', () => {
    const ids = ops.map((o) => o.id);
    for (const id of ['submitAudit', 'listAudits', 'getAudit', 'getAuditReport', 'streamAuditEvents', 'deleteAudit', 'createRun', 'listRuns', 'getRun', 'postCheckpoint', 'deleteRun', 'healthz']) {
      assert.ok(ids.includes(id), id);
    }
  });

  for (const op of ops) {
    it(`${op.method.toUpperCase()} ${op.path} (${op.id})`, async () => {
      // An admin's delete would take the owner's resource; admin deletes: test/service/tenants.test.ts.
      for (const caller of op.method === 'delete' ? CALLERS.filter((c) => c !== 'admin') : CALLERS) {
        const { status, text } = await call(op, caller);
        const what = `${op.id} as ${caller}: ${status} ${text.slice(0, 200)}`;
        assert.ok(status < 500, what);
        const special = BODY_CREDENTIALS[op.id];
        if (special) {
          assert.ok(special[caller](status), what);
        } else if (op.isPublic) {
          assert.ok(status >= 200 && status < 400, what);
        } else if (caller === 'none' || caller === 'wrong') {
          assert.equal(status, 401, what);
        } else if (caller === 'other' && op.hasId) {
          assert.equal(status, 404, what); // never 403: another tenant's ids do not exist for it
        } else {
          assert.ok(status >= 200 && status < 300, what);
        }
        // A path without the id must not name it (a list, a reused job); one with it echoes it in `instance`.
        if (!op.hasId && caller !== 'owner' && caller !== 'admin') {
          for (const id of [owned.job, owned.run]) assert.ok(!text.includes(id), `${what}: the owner's id leaked`);
        }
      }
    });
  }

  it('every response matched openapi.yaml', () => {
    assert.deepEqual(svc.responseViolations, []);
  });
});
