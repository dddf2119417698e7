// @taskgate/client: a client SDK for taskgate and the async-task platforms whose protocols it
// speaks (`createClient`, `verifyWebhook`, `parseWebhook`, `TaskgateError`; see README.md), and
// the protocol modules it is built on, one per protocol, with no runtime dependency beyond the
// platform's `fetch` and WebCrypto. Each module builds requests (`ProtocolRequest`) and reads
// answers into plain typed data; sending is the caller's (the SDK, or taskgate's relay).
export const CLIENT_VERSION = '0.1.0';

export * from './sdk/index.js';

export * from './protocols/common.js';
/** The task API (`/v1/{service}/{action}`, `retrieve` / `retrieve_batch`). */
export * as taskApi from './protocols/task-api.js';
/** APIXO (`/api/v1/generateTask`, `/api/v1/statusTask`). */
export * as apixo from './protocols/apixo.js';
/** The fal queue (`queue.fal.run`: submit, status, result, cancel, `fal_webhook`). */
export * as fal from './protocols/fal.js';
/** Replicate (`/v1/models/{owner}/{name}/predictions`, `/v1/predictions`: create, get, cancel, list). */
export * as replicate from './protocols/replicate.js';
/** OpenAI image generation (`/v1/images/generations`, synchronous; `url` or `b64_json`). */
export * as openaiImages from './protocols/openai-images.js';
/** midjourney-proxy (`/mj/submit/imagine`, `/mj/task/{id}/fetch`, `/mj/task/list-by-condition`). */
export * as midjourneyProxy from './protocols/midjourney-proxy.js';
