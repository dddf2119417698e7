/**
 * The dashboard's pages at `/dashboard/`: the prebuilt single-page app of `packages/dashboard`
 * (built at install, like the server), served as static files. It holds no data: it signs in with
 * a token the user types and reads the documented API routes (docs/dashboard-api.md).
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../../core/errors.js';

export const DASHBOARD_PATH = '/dashboard/';

/**
 * Where the built pages are: `packages/dashboard/dist`, four levels above this file both in the
 * sources (`src/http/dashboard/`) and in the compiled server (`dist/http/dashboard/`).
 */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../../dashboard/dist/', import.meta.url));

/**
 * The pages may load only what they were built with, from this origin (nothing from a CDN), and
 * may not be framed (a signed-in page must not be clickjacked). Inline styles: Preact and uPlot
 * set element styles.
 */
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
  "media-src 'self' blob:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');

export function dashboardPlugin(root: string = DASHBOARD_DIST) {
  return async function register(app: FastifyInstance): Promise<void> {
    const built = existsSync(`${root}/index.html`);
    app.get('/dashboard', async (_req, reply) => {
      if (!built) throw new GatewayError('not_found', 'The dashboard is not built: run `npm run build` (npm install does it)');
      return reply.redirect(DASHBOARD_PATH, 302);
    });
    if (!built) return;
    app.addHook('onSend', async (req, reply) => {
      if (!req.url.startsWith(DASHBOARD_PATH)) return;
      void reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff');
    });
    await app.register(fastifyStatic, {
      root, prefix: DASHBOARD_PATH, index: ['index.html'], list: false, dotfiles: 'deny', decorateReply: false, cacheControl: false,
      // Hashed assets never change; the page itself is revalidated so a new build shows at once.
      setHeaders: (res, path) => {
        res.setHeader('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  };
}
