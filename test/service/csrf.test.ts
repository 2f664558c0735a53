/**
 * Browser sessions and cross-site requests over real HTTP: cross-origin writes refused with keys
 * off and on; sign-in trades a key for a signed, HttpOnly, SameSite=Strict cookie that acts for
 * the key's tenant; a cookie needs its CSRF token to change anything; tampered, expired or
 * foreign-secret cookies are refused; sign-out clears the cookie.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyConfigText, defaultConfig } from '../../src/service/config.js';
import { SESSION_COOKIE, SessionSigner } from '../../src/service/http/session.js';
import { problemOf, startTestService, TestService, upload } from './helpers.js';

const MODEL = readFileSync(fileURLToPath(new URL('../../models/preact_resnet_standard.onnx', import.meta.url)));
const KEY_A = 'team-a-key-0123456789abcdef';
const KEY_B = 'team-b-key-0123456789abcdef';
const SECRET = 'a-shared-session-secret-of-32-characters-or-more';
const EVIL = 'http://evil.example';

/** The cookie's `name=value` from a response's Set-Cookie, and its attributes. */
function sessionCookieOf(res: Response): { pair: string; value: string; attributes: string[] } {
  const header = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.ok(header, `a ${SESSION_COOKIE} cookie is set (${res.headers.getSetCookie().join(' | ')})`);
  const [pair, ...attributes] = header.split(';').map((p) => p.trim());
  return { pair, value: pair.slice(SESSION_COOKIE.length + 1), attributes };
}

function jsonPost(url: string, body: unknown, headers: Record<string, string | undefined> = {}, method = 'POST'): Promise<Response> {
  return fetch(url, { method, headers: { 'content-type': 'application/json', ...(Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined))) }, body: JSON.stringify(body) });
}

const RUN = { name: 'csrf test run', samples: 10, preprocess: 'none' };

describe('cross-origin writes with API keys off', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(async () => svc?.stop());

  test('a cross-site form POST to /audit is refused with 403 problem+json before the upload is taken', async () => {
    const res = await upload(svc.url, { model: MODEL, fields: { samples: '10', preprocess: 'none' }, headers: { Origin: EVIL } });
    assert.equal(res.status, 403);
    const p = await problemOf(res);
    assert.equal(p.code, 'CROSS_ORIGIN');
    assert.match(p.detail, /evil\.example/);
    const list = (await (await fetch(`${svc.url}/audits`)).json()) as { items: unknown[] };
    assert.deepEqual(list.items, [], 'no audit was created');
  });

  test('without Origin, Sec-Fetch-Site or Referer from another site decide; Origin "null" is refused', async () => {
    for (const headers of [{ 'Sec-Fetch-Site': 'cross-site' }, { 'Sec-Fetch-Site': 'same-site' }, { Referer: `${EVIL}/page.html` }, { Origin: 'null' }, { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' }]) {
      const res = await jsonPost(`${svc.url}/runs`, RUN, headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal((await problemOf(res)).code, 'CROSS_ORIGIN');
    }
    const del = await fetch(`${svc.url}/audits/00000000-0000-4000-8000-000000000000`, { method: 'DELETE', headers: { Origin: EVIL } });
    assert.equal((await problemOf(del)).code, 'CROSS_ORIGIN');
  });

  test('our own origin, a same-origin fetch and clients that send none of the headers (curl, CI) pass', async () => {
    const own = new URL(svc.url).origin;
    // Origin "null" with Sec-Fetch-Site same-origin: a page of ours under a no-referrer policy.
    for (const headers of [{ Origin: own }, { 'Sec-Fetch-Site': 'same-origin' }, { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' }, { Referer: `${own}/` }, {}]) {
      const res = await jsonPost(`${svc.url}/runs`, RUN, headers);
      assert.equal(res.status, 201, `${JSON.stringify(headers)}: ${await res.clone().text()}`);
    }
    // Our pages send their origin: the referrer policy is not helmet's no-referrer (which makes it "null").
    assert.equal((await fetch(`${svc.url}/`)).headers.get('referrer-policy'), 'same-origin');
    // Reads are not writes: a page elsewhere may link here.
    assert.equal((await fetch(`${svc.url}/audits`, { headers: { Origin: EVIL } })).status, 200);
  });

  test('GET /session says there are no keys; POST /session has nothing to sign in to', async () => {
    const res = await fetch(`${svc.url}/session`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { authentication: 'none', tenant: 'default', admin: false });
    const signIn = await jsonPost(`${svc.url}/session`, { key: KEY_A });
    assert.equal(signIn.status, 404);
    assert.equal((await problemOf(signIn)).code, 'NOT_FOUND');
    assert.match(await (await fetch(`${svc.url}/`, { headers: { Accept: 'text/html' } })).text(), /id="upload-form"/);
    assert.deepEqual(svc.responseViolations, []);
  });
});

describe('browser sessions with API keys on', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ apiKeys: [`team-a:${KEY_A}`, `team-b:${KEY_B}`], sessionSecret: SECRET });
  });
  after(async () => svc?.stop());

  async function signIn(key = KEY_A): Promise<{ cookie: string; value: string; csrf: string; attributes: string[] }> {
    const res = await jsonPost(`${svc.url}/session`, { key });
    assert.equal(res.status, 201, await res.clone().text());
    const { pair, value, attributes } = sessionCookieOf(res);
    const body = (await res.json()) as { csrfToken: string };
    return { cookie: pair, value, csrf: body.csrfToken, attributes };
  }

  test('without a session, / is the sign-in form and the API answers 401; the assets are public', async () => {
    const page = await fetch(`${svc.url}/`, { headers: { Accept: 'text/html' } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<form class="signin" id="signin-form" method="post" action="\/session">/);
    assert.doesNotMatch(html, /upload-form/);
    assert.equal((await fetch(`${svc.url}/assets/app.css`)).status, 200);
    assert.equal((await fetch(`${svc.url}/audits`)).status, 401);
    assert.equal((await problemOf(await fetch(`${svc.url}/session`))).code, 'UNAUTHORIZED');
    // An unknown bearer key on the sign-in paths is no caller either: the form, or 401 from /session.
    const wrong = { Authorization: 'Bearer not-a-key-of-this-server-at-all', Accept: 'text/html' };
    assert.match(await (await fetch(`${svc.url}/`, { headers: wrong })).text(), /id="signin-form"/);
    assert.equal((await fetch(`${svc.url}/session`, { headers: { Authorization: wrong.Authorization } })).status, 401);
    // A known key opens the upload page directly (no sign-in needed for clients that can send it).
    assert.match(await (await fetch(`${svc.url}/`, { headers: { Authorization: `Bearer ${KEY_A}`, Accept: 'text/html' } })).text(), /id="upload-form"/);
  });

  test('signing in sets a signed, HttpOnly, SameSite=Strict cookie with an expiry that acts for the key\'s tenant', async () => {
    const s = await signIn();
    assert.ok(s.attributes.includes('HttpOnly'));
    assert.ok(s.attributes.includes('SameSite=Strict'));
    assert.ok(s.attributes.includes('Path=/'));
    assert.ok(s.attributes.includes(`Max-Age=${8 * 3600}`), s.attributes.join('; '));
    assert.ok(!s.value.includes(KEY_A) && !Buffer.from(s.value.split('.')[0], 'base64url').toString().includes(KEY_A), 'the key is not in the cookie');

    const bySession = (await (await fetch(`${svc.url}/session`, { headers: { Cookie: s.cookie } })).json()) as Record<string, unknown>;
    const byKey = (await (await fetch(`${svc.url}/session`, { headers: { Authorization: `Bearer ${KEY_A}` } })).json()) as Record<string, unknown>;
    assert.equal(bySession.authentication, 'session');
    assert.equal(byKey.authentication, 'key');
    assert.deepEqual([bySession.tenant, bySession.admin], [byKey.tenant, byKey.admin]);
    assert.equal(bySession.tenant, 'team-a');
    assert.equal(bySession.csrfToken, s.csrf);
    const expires = Date.parse(bySession.expiresAt as string) - Date.now();
    assert.ok(expires > 7.9 * 3600_000 && expires <= 8 * 3600_000, `expires in ${expires} ms`);

    // The page and the API work on the cookie.
    assert.match(await (await fetch(`${svc.url}/`, { headers: { Cookie: s.cookie, Accept: 'text/html' } })).text(), /id="upload-form"/);
    assert.equal((await fetch(`${svc.url}/audits`, { headers: { Cookie: s.cookie } })).status, 200);
  });

  test('the sign-in form gets a 303 to / with the cookie, or the page again with 401 for an unknown key', async () => {
    const form = (key: string): Promise<Response> =>
      fetch(`${svc.url}/session`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', Accept: 'text/html' }, body: new URLSearchParams({ key }) });
    const ok = await form(KEY_B);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/');
    const cookie = sessionCookieOf(ok).pair;
    assert.equal(((await (await fetch(`${svc.url}/session`, { headers: { Cookie: cookie } })).json()) as { tenant: string }).tenant, 'team-b');

    const refused = await form('not-a-key-of-this-server-at-all');
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await refused.text(), /id="signin-error" class="error" role="alert">That key is not known/);
    assert.equal(refused.headers.getSetCookie().length, 0);
    const json = await jsonPost(`${svc.url}/session`, { key: 'not-a-key-of-this-server-at-all' });
    assert.equal((await problemOf(json)).code, 'UNAUTHORIZED');
  });

  test('a write on the cookie needs the session\'s CSRF token: none, a wrong one or another session\'s is refused', async () => {
    const a = await signIn();
    const other = await signIn();
    for (const token of [undefined, 'x', other.csrf]) {
      const headers: Record<string, string> = { Cookie: a.cookie, ...(token !== undefined ? { 'X-CSRF-Token': token } : {}) };
      const res = await jsonPost(`${svc.url}/runs`, RUN, headers);
      assert.equal(res.status, 403, String(token));
      assert.equal((await problemOf(res)).code, 'CSRF_TOKEN_INVALID');
    }
    const up = await upload(svc.url, { model: MODEL, fields: { samples: '10' }, headers: { Cookie: a.cookie } });
    assert.equal((await problemOf(up)).code, 'CSRF_TOKEN_INVALID');

    const created = await jsonPost(`${svc.url}/runs`, RUN, { Cookie: a.cookie, 'X-CSRF-Token': a.csrf });
    assert.equal(created.status, 201, await created.clone().text());
    const run = (await created.json()) as { id: string };
    // The run belongs to the key's tenant: its key reads it, another tenant's key does not.
    assert.equal((await fetch(`${svc.url}/runs/${run.id}`, { headers: { Authorization: `Bearer ${KEY_A}` } })).status, 200);
    assert.equal((await fetch(`${svc.url}/runs/${run.id}`, { headers: { Authorization: `Bearer ${KEY_B}` } })).status, 404);

    // A bearer key wins over a cookie and needs no token (a cross-site page cannot set the header).
    assert.equal((await jsonPost(`${svc.url}/runs`, RUN, { Cookie: a.cookie, Authorization: `Bearer ${KEY_A}` })).status, 201);
    // Cross-origin is refused before the token is even looked at, with a key as with a cookie.
    const cross = await jsonPost(`${svc.url}/runs`, RUN, { Cookie: a.cookie, 'X-CSRF-Token': a.csrf, Origin: EVIL });
    assert.equal((await problemOf(cross)).code, 'CROSS_ORIGIN');
    assert.equal((await problemOf(await jsonPost(`${svc.url}/runs`, RUN, { Authorization: `Bearer ${KEY_A}`, Origin: EVIL }))).code, 'CROSS_ORIGIN');
  });

  test('a tampered, expired or foreign-secret cookie is refused (and cleared); a cookie of a process with the same secret is not', async () => {
    const s = await signIn();
    const [body, mac] = s.value.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, tenant: 'team-b', admin: true })).toString('base64url');
    const flipped = mac.slice(0, -2) + (mac.endsWith('AA') ? 'BB' : 'AA');
    const expired = new SessionSigner(SECRET, 60_000).issue({ tenant: 'team-a', admin: false }, Date.now() - 120_000).value;
    const foreign = new SessionSigner('another-secret-another-secret-another-secret', 60_000).issue({ tenant: 'team-a', admin: false }).value;
    for (const [what, value] of [['claims changed', `${forged}.${mac}`], ['signature changed', `${body}.${flipped}`], ['no signature', body], ['expired', expired], ['other secret', foreign]]) {
      const res = await fetch(`${svc.url}/audits`, { headers: { Cookie: `${SESSION_COOKIE}=${value}` } });
      assert.equal(res.status, 401, what);
      assert.equal((await problemOf(res)).code, 'UNAUTHORIZED', what);
      assert.ok(res.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=;`) && c.includes('Max-Age=0')), `${what}: the cookie is cleared`);
      const page = await fetch(`${svc.url}/`, { headers: { Cookie: `${SESSION_COOKIE}=${value}`, Accept: 'text/html' } });
      assert.match(await page.text(), /id="signin-form"/, what);
    }
    // Another API process with the same --session-secret signs cookies this one accepts.
    const shared = new SessionSigner(SECRET, 60_000).issue({ tenant: 'team-b', admin: false });
    const res = await fetch(`${svc.url}/session`, { headers: { Cookie: `${SESSION_COOKIE}=${shared.value}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { tenant: string }).tenant, 'team-b');
  });

  test('signing out needs the token and clears the cookie', async () => {
    const s = await signIn();
    const refused = await fetch(`${svc.url}/session`, { method: 'DELETE', headers: { Cookie: s.cookie } });
    assert.equal((await problemOf(refused)).code, 'CSRF_TOKEN_INVALID');
    const out = await fetch(`${svc.url}/session`, { method: 'DELETE', headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf } });
    assert.equal(out.status, 204);
    const cleared = out.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    assert.match(cleared ?? '', /^alias_audit_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/);
    assert.deepEqual(svc.responseViolations, []);
  });
});

describe('session settings', () => {
  test('--session-secret must be long; --session-ttl is a duration of a minute or more', () => {
    assert.throws(() => applyConfigText(defaultConfig(), { 'session-secret': 'short' }), /at least 32 characters/);
    assert.equal(applyConfigText(defaultConfig(), { 'session-secret': SECRET }).sessionSecret, SECRET);
    assert.equal(applyConfigText(defaultConfig(), { 'session-ttl': '30m' }).sessionTtlMs, 1_800_000);
    assert.throws(() => applyConfigText(defaultConfig(), { 'session-ttl': '10s' }), /at least 1m/);
    assert.equal(defaultConfig().sessionSecret, null);
  });

  test('a signer without a secret makes one per instance: cookies of one are not another\'s', () => {
    const one = new SessionSigner(undefined, 60_000);
    const two = new SessionSigner(undefined, 60_000);
    const { value, claims } = one.issue({ tenant: 't', admin: false });
    assert.deepEqual(one.verify(value), claims);
    assert.equal(two.verify(value), undefined);
    assert.ok(one.csrfTokenMatches(claims, one.csrfToken(claims)));
    assert.ok(!two.csrfTokenMatches(claims, one.csrfToken(claims)));
  });
});
