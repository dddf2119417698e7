/** Form values as the admin API's fields: an empty box is "no limit" (null). */

export function optionalNumber(v: FormDataEntryValue | null): number | null {
  const s = typeof v === 'string' ? v.trim() : '';
  if (s === '') return null;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`${s} is not a number`);
  return n;
}

/** `allowed_services`: a comma- or space-separated list of patterns; empty means every service (null). */
export function servicePatterns(v: FormDataEntryValue | null): string[] | null {
  const s = typeof v === 'string' ? v : '';
  const items = s.split(/[\s,]+/).filter((x) => x !== '');
  return items.length === 0 ? null : items;
}

export const text = (v: FormDataEntryValue | null): string => (typeof v === 'string' ? v.trim() : '');
