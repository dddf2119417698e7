/** Replicate-compatible predictions: /v1/predictions, /v1/models/{owner}/{name}/predictions. */
import type { FastifyInstance } from 'fastify';
import type { DialectContext } from '../../http/context.js';

export const DIALECT = 'replicate';

export function replicatePlugin(_ctx: DialectContext) {
  return async function register(_app: FastifyInstance): Promise<void> {
    // routes arrive with issue 3
  };
}
