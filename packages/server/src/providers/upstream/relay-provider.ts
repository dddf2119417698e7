/**
 * The provider of a relayed service. It only takes the input as the client sent it (each
 * upstream validates its own inputs, and its refusal comes back as the task's error); tasks of
 * such a service are submitted to a channel by the engine, never run here. A follow-up keeps
 * only its `action` and `image_id`: the engine sends it to the channel that made the image,
 * naming the upstream's own reference of it (core/follow-ups.ts).
 */
import { GatewayError } from '../../core/errors.js';
import type { Provider } from '../../core/ports.js';

export const relayProvider: Provider = {
  name: 'relay',
  inputSchema: {
    type: 'object',
    additionalProperties: true,
    description: 'Passed to the upstream platform as sent; the upstream validates it (its refusal is the task\'s error).',
  },
  parseInput: (input) => input,
  parseFollowUp: (followUp) => ({ action: followUp.action, image_id: followUp.parent.file.id }),
  run: () => Promise.reject(new GatewayError('api_error', 'A relayed service is submitted upstream, not run locally')),
};
