/**
 * The task API's error and not-found handlers. The gateway installs them at the root, so admin,
 * files and unknown paths answer in this envelope too; other dialects install their own.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { toGatewayError } from '../../http/errors.js';
import { errorBody } from './render.js';

export function taskApiErrorHandler(bodyLimit: number) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const gw = toGatewayError(err, bodyLimit);
    if (gw.status >= 500) req.log.error({ err }, 'request failed');
    if (gw.retryAfter !== undefined) void reply.header('retry-after', String(gw.retryAfter));
    return reply.code(gw.status).send(errorBody(gw, req.id));
  };
}

export function taskApiNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = req.url.split('?')[0];
  return reply.code(404).send(errorBody(new GatewayError('no_api', `No API at ${req.method} ${path}`), req.id));
}
