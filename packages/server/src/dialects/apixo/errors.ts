/**
 * APIXO's error and not-found handlers: every error under `/api/v1` — GatewayError or framework
 * error (bad JSON, oversized body, wrong content type) — answers in the `{code, message, data}`
 * envelope with the matching HTTP status; never a 500 page.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { toGatewayError } from '../../http/errors.js';
import { errorEnvelope } from './render.js';

export function apixoErrorHandler(bodyLimit: number) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const gw = toGatewayError(err, bodyLimit);
    const { status, body } = errorEnvelope(gw);
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (gw.retryAfter !== undefined) void reply.header('retry-after', String(gw.retryAfter));
    return reply.code(status).send(body);
  };
}

export function apixoNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = req.url.split('?')[0];
  const { status, body } = errorEnvelope(new GatewayError('no_api', `No API at ${req.method} ${path}`));
  return reply.code(status).send(body);
}
