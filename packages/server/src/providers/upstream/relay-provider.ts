/**
 * The provider of a relayed service. It only takes the input as the client sent it (each
 * upstream validates its own inputs, and its refusal comes back as the task's error); tasks of
 * such a service are submitted to a channel by the engine, never run here.
 */
import { GatewayError } from '../../core/errors.js';
import type { Provider } from '../../core/ports.js';

export const relayProvider: Provider = {
  name: 'relay',
  parseInput: (input) => input,
  run: () => Promise.reject(new GatewayError('api_error', 'A relayed service is submitted upstream, not run locally')),
};
