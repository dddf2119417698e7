/**
 * Turns anything a request can throw into a GatewayError, so every dialect renders framework
 * errors (bad JSON, oversized body, wrong content type) in its own envelope, never as a 500 page.
 */
import { GatewayError } from '../core/errors.js';

interface FrameworkError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: unknown;
}

export function toGatewayError(err: unknown, bodyLimit: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FrameworkError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('bad_request', `Request body is larger than the limit of ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('bad_request', 'Request body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('bad_request', 'Unsupported Content-Type; send application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('bad_request', 'Content-Length does not match the body');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatewayError('bad_request', `Malformed JSON payload: ${e.message ?? ''}`.trim());
  }
  if (err instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message ?? ''))) {
    return new GatewayError('bad_request', `Malformed JSON payload: ${e.message ?? ''}`.trim());
  }
  if (e.validation) return new GatewayError('bad_request', e.message ?? 'Invalid request');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 404) return new GatewayError('no_api', e.message);
    if (e.statusCode === 429) return new GatewayError('too_many_requests', e.message);
    return new GatewayError('bad_request', e.message ?? 'Malformed request');
  }
  return new GatewayError('api_error', 'Internal gateway error', { cause: err });
}
