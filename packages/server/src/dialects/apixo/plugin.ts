/** APIXO dialect (PROTOCOLS.md dialect 2, seed 002): /api/v1/generateTask, /api/v1/statusTask. */
import type { FastifyInstance } from 'fastify';
import type { DialectContext } from '../../http/context.js';

export const DIALECT = 'apixo';

export function apixoPlugin(_ctx: DialectContext) {
  return async function register(_app: FastifyInstance): Promise<void> {
    // routes arrive with issue 3
  };
}
