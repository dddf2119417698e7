/** Queue dialect (PROTOCOLS.md dialect 3, seed 004; fal-compatible): /v1/queue/{endpoint}… */
import type { FastifyInstance } from 'fastify';
import type { DialectContext } from '../../http/context.js';

export const DIALECT = 'queue';

export function queuePlugin(_ctx: DialectContext) {
  return async function register(_app: FastifyInstance): Promise<void> {
    // routes arrive with issue 3
  };
}
