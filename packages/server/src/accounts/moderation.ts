/**
 * Content moderation before a task is created (the core's `Moderator` port). The default
 * moderator checks text inputs against a configured word list and regular expressions, case
 * insensitively; a match refuses the create with `forbidden` (403) before anything is stored or
 * charged. The demo providers' own `blockedWords` are something else: they simulate an upstream
 * that fails a task *after* it was created (APIXO's CONTENT_VIOLATION failCode).
 */
import { GatewayError } from '../core/errors.js';
import type { Moderator } from '../core/ports.js';
import type { JsonObject, JsonValue } from '../core/types.js';

export const MODERATION_MESSAGE = 'The input was rejected by content moderation';

/** Flags of configured patterns; config validation compiles them with the same flags. */
export const PATTERN_FLAGS = 'i';

export interface ModerationSettings {
  /** Words or phrases refused as whole words (not inside a longer word), any case. */
  words: readonly string[];
  /** Regular expression sources, matched case-insensitively anywhere in a text. */
  patterns: readonly string[];
  /** Top-level input fields to check (every string inside them); absent: the whole input. */
  fields?: readonly string[] | undefined;
}

/** Whether `source` compiles as a moderation pattern (used by the config schema). */
export function isValidPattern(source: string): boolean {
  try {
    new RegExp(source, PATTERN_FLAGS);
    return true;
  } catch {
    return false;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One expression for all words: each is a whole word (no letter, digit or _ on either side). */
function wordsExpression(words: readonly string[]): RegExp | null {
  const alternatives = words.map((w) => w.trim()).filter((w) => w !== '').map(escapeRegExp);
  if (alternatives.length === 0) return null;
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'iu');
}

/** Every string value in `value`, at any depth (object values and array items). */
function* strings(value: JsonValue | undefined): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const item of value) yield* strings(item);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) yield* strings(v);
}

/** The default moderator: word list and patterns over the input's text. */
export class ListModerator implements Moderator {
  private readonly expressions: RegExp[];
  private readonly fields: readonly string[] | undefined;

  constructor(settings: ModerationSettings) {
    const words = wordsExpression(settings.words);
    this.expressions = [...(words ? [words] : []), ...settings.patterns.map((p) => new RegExp(p, PATTERN_FLAGS))];
    this.fields = settings.fields;
  }

  /** False when nothing is configured (the gateway then installs no moderator at all). */
  get active(): boolean {
    return this.expressions.length > 0;
  }

  /** Throws `forbidden` if any checked text matches; the message never names what matched. */
  check(_service: string, input: JsonObject): void {
    if (this.expressions.length === 0) return;
    const roots: Array<JsonValue | undefined> = this.fields ? this.fields.map((f) => (Object.hasOwn(input, f) ? input[f] : undefined)) : [input];
    for (const root of roots) {
      for (const text of strings(root)) {
        if (this.expressions.some((re) => re.test(text))) throw new GatewayError('forbidden', MODERATION_MESSAGE);
      }
    }
  }
}

/** The configured moderator, or undefined when no word or pattern is configured. */
export function createModerator(settings: ModerationSettings): Moderator | undefined {
  const moderator = new ListModerator(settings);
  return moderator.active ? moderator : undefined;
}
