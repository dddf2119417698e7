/**
 * The queue dialect's error envelopes (seed 004): auth and rate-limit failures as
 * `{error: {code, message}, request_id}`, everything else as fal's `{detail}`. One place maps a
 * GatewayError to its wire form; the plugin installs the handlers for its prefix.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { JsonObject } from '../../core/types.js';
import { toGatewayError } from '../../http/errors.js';

export interface WireError {
  status: number;
  body: JsonObject;
}

export const REQUEST_NOT_FOUND = 'Request not found';
export const RUNTIME_FAILED = 'Runtime execution failed';

/** The wire form of a request error; `requestId` is the gateway's id of this HTTP request. */
export function queueError(err: GatewayError, requestId: string): WireError {
  switch (err.code) {
    case 'no_token':
    case 'invalid_token':
    case 'token_expired':
    case 'disabled': // fal has no "disabled key" error: a disabled key is one that does not work
      return { status: 401, body: { error: { code: 'UNAUTHORIZED', message: authMessage(err) }, request_id: requestId } };
    case 'too_many_requests':
      return {
        status: 429,
        body: { error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded, please try again later' }, request_id: requestId },
      };
    case 'token_mismatched':
      return { status: 403, body: { detail: 'Model not allowed for this user' } };
    case 'not_found':
      return { status: 404, body: { detail: REQUEST_NOT_FOUND } };
    case 'api_not_implemented':
      return { status: 400, body: { detail: err.message } };
    case 'api_error':
      return { status: 500, body: { detail: RUNTIME_FAILED } };
    default:
      return { status: err.status, body: { detail: err.message } };
  }
}

function authMessage(err: GatewayError): string {
  if (err.code === 'no_token') return 'Authorization Bearer or Key token is required';
  if (err.code === 'token_expired') return 'The token has expired';
  if (err.code === 'disabled') return 'The token is disabled';
  return 'The Authorization token is invalid';
}

export function queueErrorHandler(bodyLimit: number) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const gw = toGatewayError(err, bodyLimit);
    if (gw.status >= 500) req.log.error({ err }, 'queue request failed');
    if (gw.retryAfter !== undefined) void reply.header('retry-after', String(gw.retryAfter));
    const { status, body } = queueError(gw, req.id);
    return reply.code(status).send(body);
  };
}

export function queueNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = queueError(new GatewayError('no_api', 'Not Found'), req.id);
  return reply.code(status).send(body);
}
