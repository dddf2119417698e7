/**
 * The client commands' errors: every failure ends as one line on stderr (`taskgate: error: …`)
 * and a non-zero exit code. SDK errors (`TaskgateError`) are turned into sentences a user can act
 * on: a refused token names `TASKGATE_TOKEN`, an unreachable gateway names its URL, a 404 names
 * the task or service that is unknown.
 */
import { TaskgateError } from '@taskgate/client';
import { redactUrl } from '../core/redact.js';

/** Exit codes of the client commands. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A failure to report as one line, with its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'CliError';
  }
}

/** Ends the command with `exitCode` after its output was written (nothing more to print). */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CliExit';
  }
}

/** What a request was about, so a 404 can say what is unknown. */
export type Subject =
  | { kind: 'task'; id: string }
  | { kind: 'service'; name: string }
  | { kind: 'endpoint'; path: string };

export interface ErrorContext {
  /** The gateway's base URL (shown when it cannot be reached). */
  url: string;
  dialect: string;
  subject: Subject;
  /** Removed from any message (the API token). */
  secret?: string;
}

const TOKEN_CODES = new Set(['invalid_token', 'no_token', 'token_expired']);

/** One line: no newlines, the secret replaced, URLs without their query values or userinfo. */
export function oneLine(text: string, secret?: string): string {
  let line = text.replace(/\s*\n\s*/g, ' ').trim();
  if (secret && secret.length >= 8) line = line.split(secret).join('[redacted]');
  return line.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (u) => redactUrl(u));
}

/** The system error code (ECONNREFUSED …) somewhere in an error's cause chain. */
function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) return systemCode(errors[0]);
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function subjectText(s: Subject, dialect: string): string {
  switch (s.kind) {
    case 'task':
      return `task ${s.id} not found (an unknown id, another token's task, or a service the ${dialect} dialect does not expose)`;
    case 'service':
      return `service ${s.name} is unknown to the ${dialect} dialect (use that dialect's own name for it, e.g. flux/dev in the task API, fal-ai/flux/dev in the queue)`;
    case 'endpoint':
      return `the gateway has no ${s.path} (is the URL a taskgate?)`;
  }
}

/** Turns any failure of a client command into a {@link CliError}. */
export function explain(err: unknown, ctx: ErrorContext): CliError {
  if (err instanceof CliError) return err;
  const where = redactUrl(ctx.url);
  if (err instanceof TaskgateError) {
    const detail = oneLine(err.message, ctx.secret);
    const http = `HTTP ${err.status} ${err.code}`;
    if (err.status === 401 || TOKEN_CODES.has(err.code)) {
      if (err.code === 'token_mismatched') return new CliError(`the API token may not use this service (${http}: ${detail})`);
      const why = err.code === 'token_expired' ? 'has expired' : 'is wrong or missing';
      return new CliError(`the gateway refused the API token: it ${why} (${http}: ${detail}); pass --token or set TASKGATE_TOKEN`);
    }
    if (err.code === 'disabled') return new CliError(`the API token is disabled (${http}: ${detail})`);
    if (err.code === 'network_error') {
      const code = systemCode(err);
      const why = code === 'ECONNREFUSED' ? 'connection refused' : code ?? detail;
      return new CliError(`the gateway is not reachable at ${where}: ${why} (is it running? set --url or TASKGATE_URL)`);
    }
    if (err.code === 'request_timeout') return new CliError(`the gateway at ${where} did not answer in time (${detail})`);
    if (err.code === 'service_required' && ctx.subject.kind === 'task') {
      return new CliError(`the ${ctx.dialect} dialect needs the task's service to find ${ctx.subject.id}: pass --service <service> (e.g. --service flux/dev)`, EXIT.usage);
    }
    if (err.code === 'invalid_argument') return new CliError(detail, EXIT.usage);
    if (err.status === 404 || err.code === 'not_found' || err.code === 'no_api') {
      return new CliError(`${subjectText(ctx.subject, ctx.dialect)} (${http}: ${detail})`);
    }
    const trace = err.traceId ? `, trace ${err.traceId}` : '';
    return new CliError(`${detail} (${err.status ? http : err.code}${trace})`);
  }
  if (err instanceof Error) return new CliError(oneLine(err.message, ctx.secret));
  return new CliError(oneLine(String(err), ctx.secret));
}
