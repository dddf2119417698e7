/**
 * Operations endpoints, none needing a token: `GET /` (what this gateway serves: its version, the
 * dialects' base paths, the configured services, links), `GET /healthz` (the process serves HTTP)
 * and `GET /readyz` (the store answers with every migration applied, and Redis answers when one
 * is configured). Readiness never hangs: each check is bounded by READY_TIMEOUT_MS.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Coordination } from '../coordination/index.js';
import type { ServiceDefinition, ServiceRegistry } from '../core/services.js';
import type { Stores } from '../store/factory.js';

/** Longest one readiness check may take before it counts as failed. */
export const READY_TIMEOUT_MS = 2000;

/** This package's name and version (packages/server/package.json). */
export const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

/** The four wire formats and where they are mounted (see README, "The other dialects"). */
export const DIALECTS = [
  { name: 'task-api', style: 'XHuoAPI task API', base_paths: ['/v1/{vendor}/{action}', '/v1/{vendor}/tasks'] },
  { name: 'apixo', style: 'APIXO', base_paths: ['/api/v1/'] },
  { name: 'queue', style: 'fal queue', base_paths: ['/v1/queue/'] },
  { name: 'replicate', style: 'Replicate', base_paths: ['/v1/predictions', '/v1/models/'] },
] as const;

export const LINKS = { dashboard: '/dashboard/', docs: '/docs', openapi: '/openapi.json', healthz: '/healthz', readyz: '/readyz' } as const;

export interface OpsOptions {
  services: ServiceRegistry;
  stores: Stores;
  coordination: Coordination;
}

type Check = { ok: true } | { ok: false; error: string };

/** `work` within `ms`, as a check result (a rejection or the timeout is the failure). */
async function bounded(ms: number, work: () => Promise<string | null>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms);
  });
  try {
    const error = await Promise.race([work().catch((err: unknown) => (err instanceof Error ? err.message : String(err)) || 'failed'), timeout]);
    return error === null ? { ok: true } : { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

/** A service as the index and an account's service list show it: no channel, key or upstream URL. */
export const serviceEntry = (d: ServiceDefinition) => ({
  name: d.name,
  kind: d.relay ? 'relayed' : 'local',
  mode: d.waitCapable ? 'wait' : 'async',
  aliases: d.aliases,
});

/** The index `GET /` answers: no secrets (no channel names, keys or upstream URLs). */
export function gatewayIndex(services: ServiceRegistry): Record<string, unknown> {
  return {
    name: pkg.name,
    version: pkg.version,
    dialects: DIALECTS,
    services: services.all().map(serviceEntry),
    links: LINKS,
  };
}

export function opsPlugin(opts: OpsOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    const index = gatewayIndex(opts.services);
    app.get('/', async () => index);
    app.get('/healthz', async () => ({ ok: true }));
    app.get('/readyz', async (_req, reply) => {
      const { stores, coordination } = opts;
      const seen: { pending?: number[] } = {};
      const [store, redis] = await Promise.all([
        bounded(READY_TIMEOUT_MS, async () => {
          seen.pending = (await stores.ping(READY_TIMEOUT_MS)).pendingMigrations;
          return null;
        }),
        coordination.pingRedis ? bounded(READY_TIMEOUT_MS, async () => (await coordination.pingRedis?.(), null)) : null,
      ]);
      const migrations: Check =
        seen.pending === undefined ? { ok: false, error: 'unknown: the store did not answer' }
        : seen.pending.length ? { ok: false, error: `not applied: ${seen.pending.join(', ')}` }
        : { ok: true };
      const checks = { store, migrations, redis: redis ?? { ok: true, configured: false } };
      const ready = Object.values(checks).every((c) => c.ok);
      return reply.code(ready ? 200 : 503).send({ ready, checks });
    });
  };
}
