/** The SQLite driver of the TokenStore contract. */
import type { TokenPatch, TokenRecord, TokenStore } from '../../accounts/tokens.js';
import type { Db } from './db.js';

interface TokenRow {
  id: string;
  name: string;
  created_at: number;
  allowed_services: string;
  expires_at: number | null;
  disabled: number;
  rate_limit_rps: number | null;
  max_concurrency: number | null;
}

const COLUMNS = 'id, name, created_at, allowed_services, expires_at, disabled, rate_limit_rps, max_concurrency';

function patterns(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
}

const toRecord = (row: TokenRow): TokenRecord => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  allowedServices: patterns(row.allowed_services),
  expiresAt: row.expires_at,
  disabled: row.disabled === 1,
  rateLimitRps: row.rate_limit_rps,
  maxConcurrency: row.max_concurrency,
});

/** Patch fields → columns (each present field is written; null clears an optional one). */
function assignments(patch: TokenPatch): { sql: string; values: (string | number | null)[] } {
  const sets: string[] = [];
  const values: (string | number | null)[] = [];
  const set = (column: string, value: string | number | null): void => {
    sets.push(`${column} = ?`);
    values.push(value);
  };
  if (patch.name !== undefined) set('name', patch.name);
  if (patch.allowedServices !== undefined) set('allowed_services', JSON.stringify(patch.allowedServices));
  if (patch.expiresAt !== undefined) set('expires_at', patch.expiresAt);
  if (patch.disabled !== undefined) set('disabled', patch.disabled ? 1 : 0);
  if (patch.rateLimitRps !== undefined) set('rate_limit_rps', patch.rateLimitRps);
  if (patch.maxConcurrency !== undefined) set('max_concurrency', patch.maxConcurrency);
  return { sql: sets.join(', '), values };
}

export function createSqliteTokenStore(db: Db): TokenStore {
  const insert = db.prepare<[string, string, string, number, string, number | null, number, number | null, number | null]>(
    `INSERT INTO tokens (id, name, token_hash, created_at, allowed_services, expires_at, disabled, rate_limit_rps, max_concurrency)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const byHash = db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE token_hash = ?`);
  const byId = db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`);
  const all = db.prepare<[], TokenRow>(`SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`);
  const del = db.prepare<[string]>('DELETE FROM tokens WHERE id = ?');
  const getSetting = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
  const setSetting = db.prepare<[string, string]>(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const find = (id: string): TokenRecord | null => {
    const row = byId.get(id);
    return row ? toRecord(row) : null;
  };
  const update = db.transaction((id: string, patch: TokenPatch): TokenRecord | null => {
    const { sql, values } = assignments(patch);
    if (sql !== '') db.prepare(`UPDATE tokens SET ${sql} WHERE id = ?`).run(...values, id);
    return find(id);
  });
  return {
    insertToken: async (rec) =>
      void insert.run(
        rec.id, rec.name, rec.hash, rec.createdAt, JSON.stringify(rec.allowedServices), rec.expiresAt,
        rec.disabled ? 1 : 0, rec.rateLimitRps, rec.maxConcurrency,
      ),
    findTokenByHash: async (hash) => {
      const row = byHash.get(hash);
      return row ? toRecord(row) : null;
    },
    getToken: async (id) => find(id),
    listTokens: async () => all.all().map(toRecord),
    updateToken: async (id, patch) => update(id, patch),
    deleteToken: async (id) => del.run(id).changes === 1,
    getSetting: async (key) => getSetting.get(key) ?? null,
    setSetting: async (key, value) => void setSetting.run(key, value),
  };
}
