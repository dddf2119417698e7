/**
 * Merges the configuration file's `services` over the built-in ones, on the raw input (before the
 * schema fills in defaults, so a default like `mode: 'wait'` never overwrites a built-in's
 * `mode: 'async'`). A service the file names that is built in takes the file's fields one by one
 * over the built-in's; `aliases` merge by dialect, and `options` merge key by key when the
 * provider stays the same (a different provider does not get the built-in provider's options).
 * A built-in service given `channels` (and no provider) becomes a relayed one: its local provider
 * and options are dropped. A service that is not built in is taken as given: it must be a
 * complete definition.
 */
import { DEFAULT_SERVICES } from './schema.js';

type Raw = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One service: the file's fields over the built-in's. Values that are not objects are left to the schema to report. */
export function mergeService(builtIn: Raw, given: unknown): unknown {
  if (!isPlainObject(given)) return given;
  const merged: Raw = { ...builtIn, ...given };
  if (given.channels !== undefined && given.provider === undefined) {
    // Relayed now: the built-in local provider and its options no longer apply.
    delete merged.provider;
    delete merged.options;
    return mergeAliases(merged, builtIn, given);
  }
  const sameProvider = given.provider === undefined || given.provider === builtIn.provider;
  if (!sameProvider) {
    if (given.options === undefined) delete merged.options;
  } else if (isPlainObject(builtIn.options) && isPlainObject(given.options)) {
    merged.options = { ...builtIn.options, ...given.options };
  }
  return mergeAliases(merged, builtIn, given);
}

function mergeAliases(merged: Raw, builtIn: Raw, given: Raw): Raw {
  if (isPlainObject(builtIn.aliases) && isPlainObject(given.aliases)) merged.aliases = { ...builtIn.aliases, ...given.aliases };
  return merged;
}

/** The raw `services` to validate: built-in ones, each overridden field by field by the file's. */
export function mergeServices(given: unknown, builtIns: Readonly<Record<string, Raw>> = DEFAULT_SERVICES): unknown {
  if (given === undefined) return { ...builtIns };
  if (!isPlainObject(given)) return given; // the schema reports it
  const out: Raw = { ...builtIns };
  for (const [name, svc] of Object.entries(given)) {
    const builtIn = Object.hasOwn(builtIns, name) ? builtIns[name] : undefined;
    out[name] = builtIn ? mergeService(builtIn, svc) : svc;
  }
  return out;
}
