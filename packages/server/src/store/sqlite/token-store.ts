/** The SQLite driver of the TokenStore contract. */
import type { TokenRecord, TokenStore } from '../../accounts/tokens.js';
import type { Db } from './db.js';

interface TokenRow {
  id: string;
  name: string;
  created_at: number;
}

const toRecord = (row: TokenRow): TokenRecord => ({ id: row.id, name: row.name, createdAt: row.created_at });

export function createSqliteTokenStore(db: Db): TokenStore {
  const insert = db.prepare<[string, string, string, number]>(
    'INSERT INTO tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)',
  );
  const byHash = db.prepare<[string], TokenRow>('SELECT id, name, created_at FROM tokens WHERE token_hash = ?');
  const all = db.prepare<[], TokenRow>('SELECT id, name, created_at FROM tokens ORDER BY created_at, id');
  const del = db.prepare<[string]>('DELETE FROM tokens WHERE id = ?');
  const getSetting = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
  const setSetting = db.prepare<[string, string]>(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  return {
    insertToken: async (rec) => void insert.run(rec.id, rec.name, rec.hash, rec.createdAt),
    findTokenByHash: async (hash) => {
      const row = byHash.get(hash);
      return row ? toRecord(row) : null;
    },
    listTokens: async () => all.all().map(toRecord),
    deleteToken: async (id) => del.run(id).changes === 1,
    getSetting: async (key) => getSetting.get(key) ?? null,
    setSetting: async (key, value) => void setSetting.run(key, value),
  };
}
