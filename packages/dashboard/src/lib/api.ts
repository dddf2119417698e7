/**
 * The one way the dashboard talks to the gateway: same-origin fetch with the token in the
 * Authorization header (never in a URL). Errors become ApiError with the gateway's code.
 */
import type { Json } from './types';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Reads the error envelope every dashboard route answers in: `{error:{code,message},trace_id}`. */
function errorOf(status: number, body: unknown): ApiError {
  const error = body !== null && typeof body === 'object' ? (body as { error?: { code?: unknown; message?: unknown } }).error : undefined;
  if (typeof error?.code === 'string') return new ApiError(status, error.code, typeof error.message === 'string' ? error.message : error.code);
  return new ApiError(status, `http_${status}`, `The gateway answered ${status}`);
}

export class Api {
  constructor(readonly token: string) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  async request<T>(method: string, path: string, body?: Json | Record<string, unknown>): Promise<T> {
    const init: RequestInit = { method, headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!res.ok) throw errorOf(res.status, parsed);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: Json | Record<string, unknown> = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T>(path: string, body: Record<string, unknown>): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  /** A raw response (CSV export, the event stream); the caller reads the body. */
  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(path, { ...init, headers: this.headers(init.headers as Record<string, string> | undefined) });
    if (!res.ok) {
      let parsed: unknown = null;
      try {
        parsed = await res.json();
      } catch {
        parsed = null;
      }
      throw errorOf(res.status, parsed);
    }
    return res;
  }
}

export const errorText = (err: unknown): string =>
  err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
