/**
 * The gateway as `npm start` runs it: the compiled modules under packages/server/dist (built by
 * `npm run build`, which every bench script runs first), typed as their TypeScript sources.
 */
import { existsSync } from 'node:fs';
import type * as ConfigModule from '../../packages/server/src/config/load.js';
import type * as GatewayModule from '../../packages/server/src/http/gateway.js';

const DIST = new URL('../../packages/server/dist/', import.meta.url);

export interface CompiledServer {
  createGateway: typeof GatewayModule.createGateway;
  parseConfig: typeof ConfigModule.parseConfig;
}

export async function compiledServer(): Promise<CompiledServer> {
  const gateway = new URL('http/gateway.js', DIST);
  if (!existsSync(gateway)) throw new Error('packages/server/dist is missing: run `npm run build` first');
  const [g, c] = await Promise.all([
    import(gateway.href) as Promise<typeof GatewayModule>,
    import(new URL('config/load.js', DIST).href) as Promise<typeof ConfigModule>,
  ]);
  return { createGateway: g.createGateway, parseConfig: c.parseConfig };
}
