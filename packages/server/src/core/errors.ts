/**
 * One error base class with a stable code catalog. Dialects render a GatewayError in their own
 * envelope in one place; core and providers only ever throw these codes.
 */

export const ERROR_CATALOG = {
  bad_request: { status: 400, message: 'Malformed request' },
  no_token: { status: 400, message: 'Missing Authorization header' },
  api_not_implemented: { status: 400, message: 'This action is not implemented for this service' },
  invalid_token: { status: 401, message: 'The specified token is invalid or wrong.' },
  token_expired: { status: 401, message: 'Token expired' },
  token_mismatched: { status: 401, message: 'Token does not belong to the requested service' },
  disabled: { status: 403, message: 'Credential or application disabled' },
  used_up: { status: 403, message: 'Balance exhausted' },
  forbidden: { status: 403, message: 'Content moderation rejected the request' },
  no_api: { status: 404, message: 'Path not registered' },
  already_completed: { status: 409, message: 'The task has already finished' },
  cancelled: { status: 409, message: 'The task was cancelled' },
  idempotency_mismatch: { status: 422, message: 'This Idempotency-Key was already used for a different request' },
  not_found: { status: 404, message: 'Task not found' },
  too_many_requests: { status: 429, message: 'Rate limit exceeded' },
  api_error: { status: 500, message: 'Gateway or upstream internal error' },
  timeout: { status: 504, message: 'Upstream inference timeout' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds a client should wait before retrying (429). */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message?: string, options?: { retryAfter?: number; cause?: unknown }) {
    super(message ?? ERROR_CATALOG[code].message, { cause: options?.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.retryAfter = options?.retryAfter;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, code);
}

/** The HTTP status a task error code maps to (unknown codes → 500). */
export function statusForCode(code: string): number {
  return isErrorCode(code) ? ERROR_CATALOG[code].status : 500;
}
