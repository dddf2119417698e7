/**
 * Redaction for anything that prints configuration (`taskgate config`, error messages):
 *   - a field whose name looks like a secret prints as "[redacted]", at any depth;
 *   - a URL keeps its scheme, host and path, but its userinfo and query values are redacted.
 * Names are split into words (camelCase, snake_case, kebab-case, dots), case-insensitively.
 * A field is secret when its last word ends with a secret word (`apiKey`, `api_key`, `x-api-key`,
 * `accessToken`, `clientSecret`, `password`, `Authorization` …), or when any word is one and the
 * value is text, a list or an object (`secretValue`, `tokenUrl`). Numbers are redacted only under a
 * secret last word that is not a count (`password: 1234`, but not `maxTokens: 4096` or
 * `secretOverlapSeconds: 86400`); booleans and null never are. Names with a `/` are service names
 * (`vendor/action`), not fields.
 */

import { REDACTED, redactUrl } from '../core/redact.js';

export { REDACTED, redactUrl };

/** Last-word endings that make a field secret whatever its value. */
const SECRET_ENDING = /(key|keys|token|tokens|secret|secrets|password|passwords|passwd|pwd|passphrase|credential|credentials|authorization|auth|cookie|cookies|signature|sig)$/;

/** Words that make a field secret when it holds text (or a list or an object). */
const SECRET_WORDS = new Set([
  'key', 'keys', 'apikey', 'token', 'tokens', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'passphrase',
  'credential', 'credentials', 'authorization', 'auth', 'bearer', 'cookie', 'cookies', 'signature',
]);

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** Whether a field of this name holding `value` must not be printed. */
export function isSecretField(name: string, value: unknown): boolean {
  if (name.includes('/') || typeof value === 'boolean' || value === null) return false;
  const parts = words(name);
  const last = parts[parts.length - 1] ?? '';
  if (typeof value === 'number') return SECRET_ENDING.test(last) && !/(tokens|keys)$/.test(last);
  return SECRET_ENDING.test(last) || parts.some((w) => SECRET_WORDS.has(w));
}

/** A deep copy of `value` fit to print: secret-looking fields and URL credentials redacted. */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = isSecretField(key, v) ? REDACTED : redactSecrets(v);
    return out;
  }
  return value;
}
