/**
 * What the dashboard's browser tests share: Debian's Chromium driven by playwright-core (nothing
 * downloaded), a webhook receiver on 127.0.0.1, and screenshots kept as test artifacts.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/dashboard/', import.meta.url));
export const DASHBOARD_BUILD = fileURLToPath(new URL('../../dashboard/dist/index.html', import.meta.url));

/**
 * Why the browser tests cannot run here, or false. Without Chromium they are skipped, unless
 * TASKGATE_TEST_REQUIRE_SERVICES=1 (CI), where they run and fail.
 */
export function skipReason(): string | false {
  if (existsSync(CHROMIUM) || process.env.TASKGATE_TEST_REQUIRE_SERVICES === '1') return false;
  return `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
}

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is required at ${CHROMIUM} (TASKGATE_TEST_REQUIRE_SERVICES=1)`);
  if (!existsSync(DASHBOARD_BUILD)) throw new Error(`The dashboard is not built (${DASHBOARD_BUILD}): run npm run build`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true, timeout: 15_000 });
}

/** Signs in through the form and waits for the signed-in nav and a connected live feed. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/dashboard/`);
  await page.fill('input[name=token]', token);
  await page.click('[data-testid=signin] button[type=submit]');
  await page.waitForSelector('[data-testid=whoami]');
  await page.waitForSelector('[data-testid=live-status][data-status=live]');
}

/** The ids of the rows the task list shows, once it has finished loading. */
export async function rowIds(page: Page): Promise<string[]> {
  await page.waitForSelector('[data-testid=task-table]:not([aria-busy=true])');
  return page.locator('[data-testid=task-table] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task-id') ?? ''));
}

export interface Hit {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 that answers 200 and records every request. */
export async function receiver(): Promise<{ url: string; hits: Hit[]; close: () => Promise<void> }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
