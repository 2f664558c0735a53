/**
 * openapi.yaml is the single source of truth: every route the app serves is in it, every
 * operation in it is served, and every operation documents its errors as problem+json.
 * (That responses match their schemas is checked as they are sent: see api.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import { loadSpec } from '../../src/service/spec.js';
import { startTestService, TestService } from './helpers.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** `METHOD /path/{param}` of every route registered on the app or on a router mounted at /. */
function appRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[]): void => {
    for (const layer of stack) {
      if (layer.route) {
        const path = layer.route.path.replace(/:(\w+)/g, '{$1}');
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  // express 5 keeps its router on app.router; its layers are not part of the public types.
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...new Set(out)].sort();
}

function specOperations(): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(loadSpec().document.paths)) {
    for (const m of METHODS) if (item[m]) out.push(`${m.toUpperCase()} ${path}`);
  }
  return out.sort();
}

describe('openapi.yaml and the app', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    await svc?.stop();
  });

  test('every route in the app is in the spec, and every operation in the spec is routed', () => {
    const routes = appRoutes(svc.app);
    assert.ok(routes.length >= 10, routes.join(', '));
    assert.deepEqual(routes, specOperations());
  });

  test('every operation answers errors as problem+json (a default response)', () => {
    for (const [path, item] of Object.entries(loadSpec().document.paths)) {
      for (const m of METHODS) {
        const op = item[m] as { responses?: Record<string, { $ref?: string }> } | undefined;
        if (!op) continue;
        assert.equal(op.responses?.default?.$ref, '#/components/responses/Problem', `${m.toUpperCase()} ${path}`);
      }
    }
  });

  test('the spec compiles in the validator (a request through it is answered, not a 500)', async () => {
    const res = await fetch(`${svc.url}/audits?limit=1`);
    assert.equal(res.status, 200);
    const bad = await fetch(`${svc.url}/audits?limit=1000`);
    assert.equal(bad.status, 400);
    assert.deepEqual(svc.responseViolations, []);
  });

  test('GET /openapi.json is the same document as openapi.yaml', async () => {
    assert.deepEqual(await (await fetch(`${svc.url}/openapi.json`)).json(), loadSpec().document);
  });
});
