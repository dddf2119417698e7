/**
 * Nesting limits for JSON. Bodies are checked as text before they are parsed (so a deep body is
 * refused before anything is built from it), and values read back from storage are clipped, so no
 * stored value — whatever wrote it — can make a read, a render or a webhook payload fail
 * (`JSON.stringify` overflows the stack at a few thousand levels).
 */
import type { JsonValue } from './types.js';

/**
 * The deepest nesting any stored value keeps when read back: the highest `jsonMaxDepth` the
 * configuration allows, far below where serialising overflows the stack.
 */
export const STORED_MAX_DEPTH = 1000;

/** Stands in for a part of a stored value nested deeper than the limit. */
export const CLIPPED = '[nested too deep]';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The first position at which `text` opens its `(maxDepth + 1)`th nested array or object, or -1
 * if it never nests deeper than `maxDepth`. Brackets inside strings do not count. The text need
 * not be valid JSON (the parser reports that); one pass, no allocation.
 */
export function jsonDepthExceeded(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return -1;
}

/**
 * `value` with every array or object below `maxDepth` levels replaced by `CLIPPED`. Returns the
 * value itself (no copy) when nothing is that deep, which is the rule: only values stored before
 * the parse-time limit existed, or written around it, are ever copied.
 */
export function clipDepth<T extends JsonValue>(value: T, maxDepth: number): T {
  return (deeperThan(value, maxDepth) ? clip(value, maxDepth) : value) as T;
}

function deeperThan(value: JsonValue, levels: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levels <= 0) return true;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.some((child) => deeperThan(child, levels - 1));
}

function clip(value: JsonValue, levels: number): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (levels <= 0) return CLIPPED;
  if (Array.isArray(value)) return value.map((child) => clip(child, levels - 1));
  const out: Record<string, JsonValue> = {};
  for (const [key, child] of Object.entries(value)) out[key] = clip(child, levels - 1);
  return out;
}
