/**
 * Upstream adapter for OpenAI image generation (`https://api.openai.com/v1`, or any API speaking
 * `POST /v1/images/generations`). The wire format lives in `@taskgate/client` (openai-images
 * module); this file wraps the synchronous call as a task and classifies failures.
 *
 * - Submit: `POST {base}/images/generations` with the task's input as given (prompt, n, size,
 *   quality, style, response_format, output_format, …; `stream` and `partial_images` removed: the
 *   answer must be one JSON body) and the channel's `model` as `model`. The call holds the task's
 *   worker slot until the images are made, so the channel's `requestTimeoutMs` must cover a whole
 *   generation (gpt-image at high quality takes a minute or more: 180 000–300 000 ms is sensible).
 * - The answer is the result: the reference's `data.outputs` holds each image, a DALL·E URL as it
 *   is (valid 60 minutes) or a `b64_json` image as a `data:` URL (the OutputCopier decodes it into
 *   the file store). The reference is stored in SQLite with the task, so a result survives a crash
 *   between submit and copy and any process may finish the task; its cost is the base64 in the
 *   row (at most the 8 MiB an upstream answer may have, see http.ts; gpt-image PNGs are 1–4 MB,
 *   jpeg/webp with `output_compression` far less).
 * - Poll: answers `succeeded` at once from the reference, without a request (`batchSize` 100).
 * - Recovery `none`: OpenAI has no idempotency key and nothing to look a generation up by, so a
 *   submit without an answer (timeout, cut connection, a 504) ends the task (`api_error`, refunded).
 * - No cancel: a generation cannot be stopped. No callbacks.
 *
 * | answer                                                        | thrown / status                 |
 * |---------------------------------------------------------------|---------------------------------|
 * | 2xx with `data: [{url | b64_json}]`                           | reference (then succeeded)      |
 * | 2xx without readable images                                   | ambiguous                       |
 * | 2xx longer than taskgate reads (8 MiB)                        | rejected `api_error` (no retry) |
 * | 4xx `content_policy_violation` / `moderation_blocked` (or a "safety system" message) | rejected `forbidden` |
 * | 429 `insufficient_quota`, 4xx `billing_hard_limit_reached`, 401, 403, 404 (model) | unavailable (fail over) |
 * | 429 otherwise                                                 | rate limited (`retry-after-ms` / `retry-after`) |
 * | 5xx (504: ambiguous), no connection (unavailable), sent but no answer (ambiguous) | as http.ts classifies |
 * | other 4xx                                                     | rejected `bad_request`          |
 */
import { randomUUID } from 'node:crypto';
import { openaiImages } from '@taskgate/client';
import type { JsonObject } from '../../../core/types.js';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable,
  type ChannelSettings, type UpstreamAdapter, type UpstreamOutput, type UpstreamRef, type UpstreamStatus,
} from '../../../core/upstream.js';
import { failFromStatus, MAX_RESPONSE_BYTES, send, type UpstreamResponse } from '../http.js';

export const PROTOCOL = 'openai-images';

/** Input fields not sent: they ask for a streamed (SSE) answer, which a task cannot wait on. */
const DROPPED = ['stream', 'partial_images'] as const;
/** Error codes about the channel's account, not the request: another channel may work. */
const CHANNEL_CODES: ReadonlySet<string> = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'invalid_api_key', 'account_deactivated']);
/** What http.ts says of an answer longer than it reads. */
const OVERSIZED = `upstream answer longer than ${MAX_RESPONSE_BYTES} bytes`;

const is2xx = (status: number): boolean => status >= 200 && status < 300;
const EXT: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

function submitFailed(res: UpstreamResponse): never {
  const error = openaiImages.parseError(res.json);
  const message = `OpenAI images: ${error ? `${error.message}${error.code ? ` (${error.code})` : ''}` : 'no error body'}`;
  const moderation = res.status >= 400 && res.status < 500 && openaiImages.isModeration(error);
  if (!moderation && (res.status === 404 || (error !== null && error.code !== null && CHANNEL_CODES.has(error.code)))) {
    throw new UpstreamUnavailable(`${message} (HTTP ${res.status})`);
  }
  if (res.status === 429 && !moderation) throw new UpstreamRateLimited(`${message} (HTTP 429)`, openaiImages.retryAfterMs(res.headers));
  failFromStatus(res, 'submit', message, moderation);
}

/** The outputs kept in a reference's `data`; null when they cannot be read. */
export function storedOutputs(data: JsonObject): UpstreamOutput[] | null {
  const list = data.outputs;
  if (!Array.isArray(list) || list.length === 0) return null;
  const outputs: UpstreamOutput[] = [];
  for (const item of list) {
    if (typeof item !== 'object' || item === null || Array.isArray(item) || typeof item.url !== 'string') return null;
    const out: UpstreamOutput = { url: item.url };
    if (typeof item.contentType === 'string') out.contentType = item.contentType;
    if (typeof item.name === 'string') out.name = item.name;
    outputs.push(out);
  }
  return outputs;
}

export function createOpenAIImagesAdapter(settings: ChannelSettings): UpstreamAdapter {
  const endpoint: openaiImages.OpenAIEndpoint = { baseUrl: settings.baseUrl, apiKey: settings.apiKey };

  function statusOf(ref: UpstreamRef): UpstreamStatus {
    const outputs = storedOutputs(ref.data);
    // Not an upstream answer but our own stored one: polling it again would read the same.
    if (!outputs) return { state: 'failed', raw: 'unreadable', error: { code: 'api_error', message: 'The stored upstream result cannot be read' } };
    const revised = ref.data.revised_prompt;
    return { state: 'succeeded', raw: 'completed', outputs, ...(typeof revised === 'string' ? { data: { revised_prompt: revised } } : {}) };
  }

  return {
    protocol: PROTOCOL,
    recovery: 'none',
    batchSize: 100,

    async submit(req, call) {
      const input: JsonObject = { ...req.input };
      for (const key of DROPPED) delete input[key];
      let res: UpstreamResponse;
      try {
        res = await send(openaiImages.generationsRequest(endpoint, settings.model, input), call, settings.requestTimeoutMs, 'submit');
      } catch (err) {
        // The images were made (and paid for) but the answer is too big to keep: asking another
        // channel would make and refuse them again. Fewer or smaller images would fit.
        if (err instanceof UpstreamUnavailable && err.message === OVERSIZED) {
          throw new UpstreamRejected('api_error', `OpenAI images: the answer is longer than the ${MAX_RESPONSE_BYTES} bytes taskgate reads; ask for fewer or smaller images (n, size, output_format jpeg/webp)`);
        }
        throw err;
      }
      if (!is2xx(res.status)) submitFailed(res);
      const result = openaiImages.parseImages(res.json);
      // It answered, but not with images: they may have been made (and billed) all the same.
      if (!result) throw new UpstreamAmbiguous(`OpenAI images: HTTP ${res.status} without readable images`);
      const format = result.outputFormat ?? (typeof input.output_format === 'string' ? input.output_format : null);
      const outputs = result.images.map((image, i): JsonObject => {
        if (image.url !== null) return { url: image.url };
        const contentType = openaiImages.contentTypeOf(format);
        return { url: `data:${contentType};base64,${image.b64}`, contentType, name: `image-${i + 1}.${EXT[contentType] ?? 'png'}` };
      });
      const data: JsonObject = { model: settings.model, outputs };
      if (result.created !== null) data.created = result.created;
      const requestId = res.headers.get('x-request-id');
      if (requestId) data.request_id = requestId;
      const revised = result.images[0]?.revisedPrompt;
      if (revised) data.revised_prompt = revised;
      // OpenAI names no task: the id is ours (unique, so a poll's answers never mix tasks up).
      return { id: `img_${randomUUID()}`, urls: {}, data };
    },

    poll(refs) {
      return Promise.resolve(new Map(refs.map((ref) => [ref.id, statusOf(ref)])));
    },
  };
}
