/**
 * APIXO's callback body: the statusTask answer itself, `{code: 200, message: "success", data:
 * {taskId, state, resultJson | failCode + failMsg, createTime, completeTime, costTime}}`, so a
 * receiver parses callbacks and polls with the same code.
 */
import type { WebhookRenderer } from '../../webhooks/types.js';
import { statusData, success } from './render.js';

export const apixoWebhook: WebhookRenderer = (task, _event, _base, extras) => ({ ...success(statusData(task, extras.links)) });
