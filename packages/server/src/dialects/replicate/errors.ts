/**
 * Errors as Replicate renders them: problem+json `{title, detail, status}`; 422 adds
 * `invalid_fields: [{type, field, description}]`. Every error of this dialect — GatewayError,
 * framework error (bad JSON, oversized body) or a validation problem — is rendered here, never as
 * a 500 page.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayError } from '../../core/errors.js';
import type { JsonObject } from '../../core/types.js';
import { toGatewayError } from '../../http/errors.js';

export interface InvalidField {
  /** `required`, `invalid_type`, `invalid`, `additional_property_not_allowed` … */
  type: string;
  /** The field at fault: `input`, `input.prompt`, `webhook`, `version`, the `Prefer` header … */
  field: string;
  description: string;
}

/** A 422: the request was understood but one or more fields are invalid. */
export class InvalidFieldsError extends Error {
  readonly fields: InvalidField[];
  readonly title: string;

  constructor(fields: InvalidField[], title = 'Input validation failed') {
    super(fields.map((f) => `- ${f.field}: ${f.description}`).join('\n'));
    this.name = 'InvalidFieldsError';
    this.fields = fields;
    this.title = title;
  }
}

export const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  422: 'Input validation failed',
  429: 'Too many requests',
  500: 'Internal server error',
  504: 'Gateway timeout',
};

export function problem(status: number, title: string, detail: string, extra: JsonObject = {}): JsonObject {
  return { title, detail, status, ...extra };
}

/** The status and problem body of a GatewayError in this dialect. */
export function gatewayProblem(gw: GatewayError): JsonObject {
  switch (gw.code) {
    case 'no_token':
      return problem(401, 'Unauthenticated', 'You did not pass an authentication token');
    case 'invalid_token':
      return problem(401, 'Unauthenticated', 'You did not pass a valid authentication token');
    case 'token_expired':
      return problem(401, 'Unauthenticated', 'Your authentication token has expired');
    case 'token_mismatched': // the token is valid but scoped to other services: say which
      return problem(401, 'Unauthenticated', gw.message);
    case 'no_api':
    case 'not_found':
      return problem(404, 'Not found', gw.message);
    default:
      return problem(gw.status, TITLES[gw.status] ?? 'Error', gw.message);
  }
}

export function replicateErrorHandler(bodyLimit: number) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err instanceof InvalidFieldsError) {
      return reply
        .code(422)
        .type(PROBLEM_TYPE)
        .send(problem(422, err.title, err.message, { invalid_fields: err.fields.map((f) => ({ ...f })) }));
    }
    const gw = toGatewayError(err, bodyLimit);
    const body = gatewayProblem(gw);
    const status = body.status as number;
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (gw.retryAfter !== undefined) void reply.header('retry-after', String(gw.retryAfter));
    return reply.code(status).type(PROBLEM_TYPE).send(body);
  };
}
