/**
 * The dashboard's pages at /dashboard/: the gateway serves the prebuilt app (built by `npm
 * install`, like the server) with a content security policy and no framing, hashed assets cached
 * for good and the page revalidated; a gateway whose dashboard was never built says so; and
 * `dashboard.enabled: false` removes the pages.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Fastify from 'fastify';
import { taskApiErrorHandler } from '../src/dialects/task-api/errors.js';
import { DASHBOARD_DIST, dashboardPlugin } from '../src/http/dashboard/static.js';
import { removeDir, startGateway, tempDir } from './helpers.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

test('the built dashboard is served at /dashboard/ with its security headers; assets are immutable', { skip: existsSync(join(DASHBOARD_DIST, 'index.html')) || process.env.TASKGATE_TEST_REQUIRE_SERVICES === '1' ? false : 'the dashboard is not built (npm run build)' }, async () => {
  const t = await startGateway();
  try {
    const bare = await fetch(`${t.url}/dashboard`, { redirect: 'manual' });
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get('location'), '/dashboard/');
    const page = await fetch(`${t.url}/dashboard/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is loaded from another origin');
    const asset = readdirSync(join(DASHBOARD_DIST, 'assets')).find((f) => f.endsWith('.js'))!;
    assert.ok(html.includes(`/dashboard/assets/${asset}`) || html.includes('/dashboard/assets/'), 'the page loads its built assets');
    const js = await fetch(`${t.url}/dashboard/assets/${asset}`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await fetch(`${t.url}/dashboard/assets/nope.js`)).status, 404);
    assert.equal((await fetch(`${t.url}/dashboard/../package.json`)).status, 404);
  } finally {
    await t.close();
  }
});

test('dashboard.enabled: false serves no pages (the API routes stay)', async () => {
  const t = await startGateway({ config: { dashboard: { enabled: false } } });
  try {
    assert.equal((await fetch(`${t.url}/dashboard/`)).status, 404);
    assert.equal((await fetch(`${t.url}/dashboard`, { redirect: 'manual' })).status, 404);
    assert.equal((await t.call('GET', '/v1/account')).status, 200);
  } finally {
    await t.close();
  }
});

test('a dashboard that was never built: /dashboard says how to build it; a built one in another place is served', async () => {
  const missing = tempDir();
  const built = tempDir();
  dirs.push(missing, built);
  mkdirSync(join(built, 'assets'));
  writeFileSync(join(built, 'index.html'), '<!doctype html><title>taskgate</title>');
  for (const [root, status] of [[missing, 404], [built, 302]] as const) {
    const app = Fastify();
    app.setErrorHandler(taskApiErrorHandler(1024));
    await app.register(dashboardPlugin(root));
    const r = await app.inject({ method: 'GET', url: '/dashboard' });
    assert.equal(r.statusCode, status, r.body);
    if (status === 404) assert.match(r.json().error.message, /not built: run `npm run build`/);
    else assert.equal((await app.inject({ method: 'GET', url: '/dashboard/' })).body, '<!doctype html><title>taskgate</title>');
    await app.close();
  }
});
