/**
 * The one body parser of every route. Every API body is JSON whatever the content type (clients
 * send text/plain or forget it), and an empty body is no body (fal and Replicate clients send a
 * JSON content type on body-less calls); handlers that need a body say so (`jsonBody`).
 *
 * Refused with `bad_request`, so each dialect renders it in its own envelope:
 * - form and multipart bodies (`curl -d prompt=x`): the API takes JSON (a JSON body sent with a
 *   form content type is still taken, as clients mislabel bodies);
 * - bodies nested deeper than `maxDepth` arrays/objects, checked on the text before parsing;
 * - malformed JSON, with the parser's own reason;
 * - `__proto__` / `constructor.prototype` keys (prototype poisoning), as Fastify's parser does.
 */
import type { FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { GatewayError } from '../core/errors.js';
import { jsonDepthExceeded } from '../core/json.js';

const FORM_TYPES = /^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

type Done = (err: Error | null, body?: unknown) => void;

export function jsonBodyParser(maxDepth: number) {
  return (req: FastifyRequest, body: string | Buffer, done: Done): void => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    const at = jsonDepthExceeded(text, maxDepth);
    if (at >= 0) {
      done(new GatewayError('bad_request', `JSON body is nested deeper than ${maxDepth} levels (at character ${at})`));
      return;
    }
    let value: unknown;
    try {
      value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      const type = req.headers['content-type'];
      if (type !== undefined && FORM_TYPES.test(type)) {
        // A JSON body mislabelled as a form is taken as JSON above; a real form is not.
        const bare = type.split(';')[0]?.trim() ?? type;
        done(new GatewayError('bad_request', `This API takes a JSON body (Content-Type: application/json), not ${bare}`));
        return;
      }
      const reason = err instanceof Error ? err.message : String(err);
      done(new GatewayError('bad_request', `Malformed JSON payload: ${reason}`));
      return;
    }
    done(null, value);
  };
}
