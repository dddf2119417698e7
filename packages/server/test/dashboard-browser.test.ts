/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * gateway on 127.0.0.1: sign-in, a task followed live from queued to succeeded, its page with the
 * image loaded, a webhook redelivered (same webhook-id at the receiver), a token shown once,
 * filters and the CSV export of the filtered list, and an account's token seeing only its own.
 * Every wait is a bounded wait for a condition; screenshots go to test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { isTerminal } from '../src/core/types.js';
import { ADMIN_TOKEN, startGateway, until, waitForTask, type TestGateway } from './helpers.js';
import { launch, receiver, rowIds, screenshot, signIn, skipReason } from './dashboard-browser-kit.js';

/** The page's globals these tests read (the server's tsconfig has no DOM library). */
type PageGlobals = { seen: string[]; marker?: boolean; location: { hash: string } };

const CSV_HEADER = 'id,account_id,service,dialect,state,channel,price,attempts,error_code,error_message,created_at,started_at,finished_at,duration_ms';
/**
 * Run in the page (as source: the server's tsconfig has no DOM library): records every state a
 * task row shows (`<id>:<state>` in `window.seen`) and sets a marker a reload would lose.
 */
const RECORD_STATES = `(() => {
  window.seen = [];
  window.marker = true;
  const record = (el) => window.seen.push(el.getAttribute('data-task-id') + ':' + el.getAttribute('data-state'));
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.type === 'attributes' && c.target.matches && c.target.matches('tr[data-task-id]')) record(c.target);
      for (const n of c.addedNodes) if (n.matches && n.matches('tr[data-task-id]')) record(n);
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
})()`;
/** Slow enough that the list shows the task queued or running before it succeeds. */
const SLOW = { 'slow/image': { provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 2400, steps: 6, defaultWidth: 96, defaultHeight: 64 } } };

describe('dashboard in a browser', { skip: skipReason(), timeout: 300_000 }, () => {
  let t: TestGateway;
  let browser: Browser;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let other: { token: string; accountId: string };
  const contexts: BrowserContext[] = [];

  /** A new browser tab with its own session storage. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    context.setDefaultTimeout(20_000);
    return context.newPage();
  }

  /** Creates a task through the task API and waits until it is finished; answers its id. */
  async function finishedTask(path: string, body: Record<string, unknown>, token = t.token, owner = t.ownerId): Promise<string> {
    const r = await t.call('POST', path, { token, body: { async: true, ...body } });
    assert.equal(r.status, 200, r.text);
    await waitForTask(t.gw, owner, r.json.task_id, (x) => isTerminal(x.state), 30_000);
    return r.json.task_id as string;
  }

  before(async () => {
    rx = await receiver();
    t = await startGateway({ services: SLOW, config: { webhooks: { enabled: true } } });
    const created = await t.gw.tokens.create('other');
    other = { token: created.token, accountId: created.record.accountId };
    browser = await launch();
    // Some history, so the list has something in it from the start.
    await finishedTask('/v1/suno/audios', { prompt: 'a sea shanty about queues' });
    await finishedTask('/v1/veo/videos', { prompt: 'a paper boat on a river' });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
    await rx?.close();
  });

  test('sign in: a wrong token is refused, the admin token shows the full nav, sign-out forgets the token', async () => {
    const page = await newPage();
    await page.goto(`${t.url}/dashboard/`);
    await page.fill('input[name=token]', 'tg_not_a_real_token');
    await page.click('[data-testid=signin] button[type=submit]');
    await page.waitForSelector('[data-testid=signin-error]');
    await signIn(page, t.url, ADMIN_TOKEN);
    assert.equal(await page.textContent('[data-testid=whoami]'), 'admin');
    assert.equal(await page.locator('[data-nav=accounts]').count(), 1);
    assert.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage');
    assert.ok(!page.url().includes(ADMIN_TOKEN), 'the token is never in the URL');
    await page.reload();
    await page.waitForSelector('[data-testid=whoami]'); // the session survives a reload of the tab
    await page.click('[data-testid=signout]');
    await page.waitForSelector('[data-testid=signin]');
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
  });

  test('the list follows a task live from queued or running to succeeded, without a reload', async () => {
    const page = await newPage();
    await signIn(page, t.url, ADMIN_TOKEN);
    await page.waitForSelector('[data-testid=task-table] tbody tr');
    // Every state a row shows is recorded, and a marker proves the page is never reloaded.
    await page.evaluate(RECORD_STATES);
    const r = await t.call('POST', '/v1/slow/image', { body: { prompt: 'a lighthouse at dusk', async: true } });
    assert.equal(r.status, 200, r.text);
    const id: string = r.json.task_id;
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.locator('[data-testid=state]').filter({ hasText: /^(queued|running)$/ }).waitFor();
    await row.locator('[data-testid=state]', { hasText: 'running' }).waitFor();
    await screenshot(page, 'tasks-running');
    await row.locator('[data-testid=state]', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    const { seen, marker } = await page.evaluate(() => {
      const w = globalThis as unknown as { seen: string[]; marker?: boolean };
      return { seen: w.seen, marker: w.marker === true };
    });
    assert.equal(marker, true, 'the page was not reloaded');
    const states = seen.filter((s) => s.startsWith(`${id}:`)).map((s) => s.slice(id.length + 1));
    assert.ok(states.includes('running'), `states seen: ${states.join(' → ')}`);
    assert.equal(states.at(-1), 'succeeded', `states seen: ${states.join(' → ')}`);
    assert.ok(states.indexOf('running') < states.lastIndexOf('succeeded'));
    await screenshot(page, 'tasks-live');
  });

  test('a task page shows its request, the image (loaded), the timeline and the ledger', async () => {
    const id = await finishedTask('/v1/demo/image', { prompt: 'a red fox in the snow', width: 320, height: 200 });
    const page = await newPage();
    await signIn(page, t.url, ADMIN_TOKEN);
    await page.click(`tr[data-task-id="${id}"] a[href="#/tasks/${id}"]`);
    await page.waitForSelector('[data-testid=task-page][data-state=succeeded]');
    assert.match(await page.textContent('[data-testid=request]') ?? '', /a red fox in the snow/);
    // The response as the task API client got it (its own result shape, with the task id).
    await page.click('[data-testid=response] summary');
    assert.match(await page.textContent('[data-testid=response]') ?? '', new RegExp(`"task_id": "${id}"`));
    const img = page.locator('[data-testid=file-image] img');
    await img.waitFor();
    type Img = { complete: boolean; naturalWidth: number };
    await img.evaluate((el) => new Promise<void>((resolve, reject) => {
      const i = el as unknown as Img & { addEventListener(e: string, f: () => void): void };
      if (i.complete) resolve();
      i.addEventListener('load', () => resolve());
      i.addEventListener('error', () => reject(new Error('the image did not load')));
    }), undefined, { timeout: 20_000 });
    assert.ok(await img.evaluate((el) => (el as unknown as Img).naturalWidth) > 0, 'the image loaded (naturalWidth > 0)');
    const timeline = await page.textContent('[data-testid=timeline]') ?? '';
    assert.match(timeline, /created/);
    assert.match(timeline, /succeeded/);
    await page.locator('[data-testid=ledger]').waitFor();
    await screenshot(page, 'task-page');

    // Audio and video outputs get players.
    const audio = await finishedTask('/v1/suno/audios', { prompt: 'a lullaby' });
    await page.goto(`${t.url}/dashboard/#/tasks/${audio}`);
    await page.waitForSelector('[data-testid=file-audio] audio[controls]');
    const video = await finishedTask('/v1/veo/videos', { prompt: 'waves' });
    await page.goto(`${t.url}/dashboard/#/tasks/${video}`);
    await page.waitForSelector('[data-testid=file-video] video[controls]');
  });

  test('redeliver a webhook: the receiver gets a second POST with the same webhook-id', async () => {
    const before = rx.hits.length;
    const id = await finishedTask('/v1/demo/image', { prompt: 'a postcard', callback_url: rx.url });
    const first = await until('the first delivery', () => rx.hits.slice(before).find((h) => h.body.includes(id)));
    const page = await newPage();
    await signIn(page, t.url, ADMIN_TOKEN);
    await page.goto(`${t.url}/dashboard/#/tasks/${id}`);
    await page.locator('[data-testid=delivery] [data-testid=attempt]').first().waitFor();
    await page.click('[data-testid=redeliver]');
    await page.waitForSelector('[data-testid=redeliver-status]');
    const hits = await until('the redelivery', () => {
      const mine = rx.hits.filter((h) => h.body.includes(id));
      return mine.length >= 2 ? mine : undefined;
    });
    assert.equal(hits.length, 2);
    assert.equal(hits[1]!.headers['webhook-id'], first.headers['webhook-id']);
    assert.equal(hits[1]!.body, first.body, 'the same payload');
    await page.reload();
    await until('two attempts listed', async () => ((await page.locator('[data-testid=attempt]').count()) >= 2 ? true : (await page.reload(), undefined)), 20_000, 500);
    await screenshot(page, 'task-redelivered');
  });

  test('filters by state and by service, and the CSV export holds exactly the filtered rows', async () => {
    const ok1 = await finishedTask('/v1/demo/image', { prompt: 'a blue door' });
    const ok2 = await finishedTask('/v1/demo/image', { prompt: 'a green door' });
    const bad = await finishedTask('/v1/demo/image', { prompt: 'fail-demo-word door' });
    const flux = await finishedTask('/v1/flux/dev', { prompt: 'a yellow door' });
    const page = await newPage();
    await signIn(page, t.url, ADMIN_TOKEN);

    await page.check('input[name=state][value=failed]');
    await page.waitForSelector(`tr[data-task-id="${bad}"]`);
    let ids = await rowIds(page);
    assert.ok(ids.includes(bad));
    assert.deepEqual(await page.locator('[data-testid=task-table] tbody tr').evaluateAll((rows) => [...new Set(rows.map((r) => r.getAttribute('data-state')))]), ['failed']);

    await page.uncheck('input[name=state][value=failed]');
    await page.check('input[name=state][value=succeeded]');
    await page.selectOption('select[name=service]', 'demo/image');
    await page.waitForFunction(() => {
      const { hash } = (globalThis as unknown as PageGlobals).location;
      return hash.includes('service=demo') && hash.includes('state=succeeded');
    });
    ids = await rowIds(page);
    assert.ok(ids.includes(ok1) && ids.includes(ok2), 'both succeeded demo/image tasks');
    assert.ok(!ids.includes(bad) && !ids.includes(flux), 'neither the failed task nor the other service');
    const shown = await page.locator('[data-testid=task-table] tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-service')}|${r.getAttribute('data-state')}`));
    assert.deepEqual([...new Set(shown)], ['demo/image|succeeded']);
    await screenshot(page, 'tasks-filtered');

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.click('[data-testid=export-csv]')]);
    assert.equal(download.suggestedFilename(), 'tasks.csv');
    const path = await download.path();
    const lines = (await readFile(path, 'utf8')).trim().split(/\r?\n/);
    assert.equal(lines[0], CSV_HEADER);
    const rows = lines.slice(1).map((l) => l.split(','));
    assert.deepEqual(rows.map((r) => r[0]), ids, 'the same tasks, in the same order');
    for (const r of rows) assert.deepEqual([r[2], r[4]], ['demo/image', 'succeeded']);
  });

  test('a new token is shown once: after its create, never after leaving the page, a reload, or in a list', async () => {
    const page = await newPage();
    await signIn(page, t.url, ADMIN_TOKEN);
    await page.click('[data-nav=accounts]');
    await page.click(`[data-account-id="${t.ownerId}"] a`);
    await page.waitForSelector('[data-testid=account-page]');
    await page.fill('[data-testid=token-form] input[name=name]', 'ci-once');
    await page.fill('[data-testid=token-form] input[name=allowed_services]', 'demo/*');
    await page.click('[data-testid=token-form] button[type=submit]');
    const secret = await page.locator('[data-testid=new-token-secret]').inputValue();
    assert.ok(secret.length >= 20, 'the secret is shown');
    const me = await t.call('GET', '/v1/account', { token: secret });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.token.name, 'ci-once');
    assert.deepEqual(me.json.token.allowed_services, ['demo/*']);
    await page.locator('[data-testid=token-table] tr', { hasText: 'ci-once' }).waitFor();

    await page.click('[data-nav=tasks]');
    await page.waitForSelector('[data-testid=task-table]');
    await page.goBack();
    await page.locator('[data-testid=token-table] tr', { hasText: 'ci-once' }).waitFor();
    assert.equal(await page.locator('[data-testid=new-token]').count(), 0);
    assert.ok(!(await page.content()).includes(secret), 'gone after navigating away');
    await page.reload();
    await page.locator('[data-testid=token-table] tr', { hasText: 'ci-once' }).waitFor();
    assert.ok(!(await page.content()).includes(secret), 'gone after a reload');
    for (const path of [`/admin/accounts/${t.ownerId}/tokens`, '/admin/tokens']) {
      const list = await t.call('GET', path, { token: ADMIN_TOKEN });
      assert.equal(list.status, 200);
      assert.ok(!list.text.includes(secret), `not in ${path}`);
    }
    const own = await t.call('GET', '/v1/account/tokens', { token: secret });
    assert.ok(own.status === 200 && !own.text.includes(secret));
  });

  test("an account's token sees only its own tasks and has no admin pages", async () => {
    const mine = await finishedTask('/v1/demo/image', { prompt: 'mine', callback_url: rx.url });
    const theirs = await finishedTask('/v1/demo/image', { prompt: 'theirs' }, other.token, other.accountId);
    const page = await newPage();
    await signIn(page, t.url, t.token);
    assert.match(await page.textContent('[data-testid=whoami]') ?? '', /^account /);
    await page.waitForSelector(`tr[data-task-id="${mine}"]`);
    const ids = await rowIds(page);
    assert.ok(!ids.includes(theirs), "another account's task is not listed");
    assert.equal(await page.locator('[data-nav=accounts]').count(), 0, 'no Accounts page in the nav');
    assert.equal(await page.locator('[data-nav=account]').count(), 1);

    // A task of account B created while A watches never shows up in A's list.
    await finishedTask('/v1/demo/image', { prompt: 'theirs, live' }, other.token, other.accountId);
    const live = await finishedTask('/v1/demo/image', { prompt: 'mine, live' });
    await page.waitForSelector(`tr[data-task-id="${live}"]`);
    const after = await rowIds(page);
    const foreign = await t.call('GET', `/admin/tasks?account=${other.accountId}`, { token: ADMIN_TOKEN });
    for (const item of foreign.json.items as Array<{ id: string }>) assert.ok(!after.includes(item.id), `${item.id} is not A's`);

    await page.goto(`${t.url}/dashboard/#/accounts`);
    await page.waitForSelector('[data-testid=not-found]');
    await page.goto(`${t.url}/dashboard/#/tasks/${theirs}`);
    await page.waitForSelector('[data-testid=task-error]');
    await page.click('[data-nav=account]');
    await page.waitForSelector('[data-testid=my-account] [data-testid=token-table] tbody tr');
    // Its own webhook deliveries, each linking to its task; none of another account's.
    await page.waitForSelector(`[data-testid=account-deliveries] a[href="#/tasks/${mine}"]`);
    assert.ok(!(await page.textContent('[data-testid=my-account]'))!.includes(theirs));
    await screenshot(page, 'my-account');
  });
  test('services, charts and the playground: a prompt submitted from the page finishes on its task page', async () => {
    const page = await newPage();
    await signIn(page, t.url, t.token);
    await page.click('[data-nav=playground]');
    await page.selectOption('[data-testid=playground] select[name=service]', 'slow/image');
    await page.fill('[data-testid=playground] textarea[name=prompt]', 'a kite over the dunes');
    await page.click('[data-testid=playground] button[type=submit]');
    await page.waitForSelector('[data-testid=task-page]');
    await page.waitForSelector('[data-testid=task-page][data-state=succeeded]', { timeout: 30_000 });
    await page.locator('[data-testid=file-image] img').waitFor();
    const id = (await page.textContent('[data-testid=task-page] h2'))?.trim() ?? '';
    const owned = await t.call('GET', `/v1/account/tasks/${id}`);
    assert.equal(owned.status, 200, 'the playground task belongs to the signed-in account');

    const admin = await newPage();
    await signIn(admin, t.url, ADMIN_TOKEN);
    await admin.click('[data-nav=services]');
    await admin.waitForSelector('[data-testid=services] article[data-service="slow/image"]');
    await admin.click('[data-nav=charts]');
    await admin.waitForSelector('[data-testid=totals]');
    assert.match(await admin.textContent('[data-testid=totals]') ?? '', /[1-9]\d* finished/);
    for (const chart of ['throughput', 'latency', 'error-rate', 'spend']) await admin.waitForSelector(`[data-testid=chart-${chart}] canvas`);
    await screenshot(admin, 'charts');
  });
});
