/**
 * Result files under /files/<128-bit random key>/<name>, served from the data dir. A path that
 * names no file answers 404 `not_found` saying so (in the task API envelope, like every path
 * outside a dialect), not "no API at this path".
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { errorBody } from '../dialects/task-api/render.js';

export function filesPlugin(root: string) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0];
      return reply.code(404).send(errorBody(new GatewayError('not_found', `File ${path} does not exist`), req.id));
    });
    await app.register(fastifyStatic, { root, prefix: '/', index: false, list: false, dotfiles: 'deny', immutable: true, maxAge: '1d' });
  };
}
