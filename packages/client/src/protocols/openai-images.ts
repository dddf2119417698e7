/**
 * OpenAI image generation (`https://api.openai.com/v1`), client side. Checked against the
 * `openai` npm client 4.x / 5.x (`images.generate`).
 *
 * - Auth: `Authorization: Bearer <key>`.
 * - Generate: `POST {base}/images/generations {model, prompt, n?, size?, quality?, style?,
 *   response_format?: url | b64_json, output_format?, background?, user?, …}` →
 *   `{created, data: [{url | b64_json, revised_prompt?}], output_format?, usage?, …}`.
 *   Synchronous: the answer comes when the images are made (tens of seconds for gpt-image).
 * - `gpt-image-*` models always answer `b64_json` (`output_format` png | jpeg | webp, default
 *   png); DALL·E models answer `url` by default (valid for 60 minutes) or `b64_json` on request.
 * - Errors: `{error: {message, type, param, code}}`; content refusals are 400 with code
 *   `content_policy_violation` (DALL·E) or `moderation_blocked` (gpt-image). 429 is either a
 *   rate limit (`rate_limit_exceeded`; `retry-after-ms` / `retry-after` headers) or an exhausted
 *   quota (`insufficient_quota`).
 * There is no task id, no idempotency key and no way to look a generation up afterwards.
 */
import { bearer, isObject, joinUrl, num, str, type JsonObject, type ProtocolRequest } from './common.js';

export interface OpenAIEndpoint {
  /** `https://api.openai.com/v1` (or a compatible API's base, `/v1` included). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; null sends none. */
  apiKey: string | null;
}

/** How long a DALL·E image URL stays valid. */
export const URL_TTL_MS = 60 * 60 * 1000;

/** Error codes that mean the prompt (or image) was refused by moderation. */
export const MODERATION_CODES: ReadonlySet<string> = new Set(['content_policy_violation', 'moderation_blocked']);

/** Whether `model` is a gpt-image model (always answers `b64_json`). */
export function isGptImage(model: string): boolean {
  return /gpt-image/i.test(model);
}

/** `POST {base}/images/generations`: the input as given, `model` set to `model`. */
export function generationsRequest(endpoint: OpenAIEndpoint, model: string, input: JsonObject): ProtocolRequest {
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, 'images/generations'), headers: bearer(endpoint.apiKey), body: { ...input, model } };
}

/** One generated image: a URL or the image itself in base64. */
export type GeneratedImage = ({ url: string; b64: null } | { url: null; b64: string }) & { revisedPrompt: string | null };

export interface ImagesResponse {
  created: number | null;
  images: GeneratedImage[];
  /** `png` | `jpeg` | `webp` (gpt-image answers say which); null when not given. */
  outputFormat: string | null;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const httpUrl = (v: unknown): string | undefined => {
  const s = str(v);
  return s !== undefined && /^https?:\/\//i.test(s) ? s : undefined;
};

/**
 * A generations answer; null when it is not one: no `data` array, no image in it, or an item
 * with neither an http(s) `url` nor a base64 `b64_json`.
 */
export function parseImages(body: unknown): ImagesResponse | null {
  if (!isObject(body) || !Array.isArray(body.data) || body.data.length === 0) return null;
  const images: GeneratedImage[] = [];
  for (const item of body.data) {
    if (!isObject(item)) return null;
    const revisedPrompt = str(item.revised_prompt) ?? null;
    const b64 = typeof item.b64_json === 'string' && item.b64_json.length % 4 === 0 && BASE64.test(item.b64_json) ? item.b64_json : undefined;
    const url = httpUrl(item.url);
    if (b64 !== undefined) images.push({ url: null, b64, revisedPrompt });
    else if (url !== undefined) images.push({ url, b64: null, revisedPrompt });
    else return null;
  }
  return { created: num(body.created) ?? null, images, outputFormat: str(body.output_format) ?? null };
}

const TYPES: Readonly<Record<string, string>> = { png: 'image/png', jpeg: 'image/jpeg', jpg: 'image/jpeg', webp: 'image/webp' };

/** The content type of an `output_format` (default png, what both model families answer by default). */
export function contentTypeOf(outputFormat: string | null | undefined): string {
  return TYPES[(outputFormat ?? 'png').toLowerCase()] ?? 'image/png';
}

export interface OpenAIError {
  message: string;
  type: string | null;
  code: string | null;
  param: string | null;
}

/** An `{error: {message, type, param, code}}` body; null when it is not one. */
export function parseError(body: unknown): OpenAIError | null {
  if (!isObject(body) || !isObject(body.error)) return null;
  const e = body.error;
  const message = str(e.message);
  if (message === undefined) return null;
  return { message, type: str(e.type) ?? null, code: str(e.code) ?? null, param: str(e.param) ?? null };
}

/** Whether an error is a content refusal (by its code, or a safety-system message without one). */
export function isModeration(error: OpenAIError | null): boolean {
  if (!error) return false;
  if (error.code !== null && MODERATION_CODES.has(error.code)) return true;
  return error.code === null && /safety system|content polic/i.test(error.message);
}

/**
 * Milliseconds a 429 asks to wait, as the `openai` client reads it: `retry-after-ms`, then
 * `retry-after` (seconds or an HTTP date); null when neither is usable.
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  const value = headers.get('retry-after')?.trim();
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
