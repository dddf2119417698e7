/**
 * The signed-in token lives in sessionStorage (gone when the tab closes; never localStorage,
 * never a URL). Who it belongs to comes from /admin/whoami or /v1/account.
 */
import { Api, ApiError } from './api';
import type { WhoAmI } from './types';

const KEY = 'taskgate.token';

export interface Session {
  api: Api;
  who: WhoAmI;
  /** The prefix of the data routes this token may use: `/admin` or `/v1/account`. */
  base: '/admin' | '/v1/account';
}

export const storedToken = (): string | null => sessionStorage.getItem(KEY);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);

/** Who the token is: the admin token, or one account's token. Throws ApiError on a bad token. */
export async function signIn(token: string): Promise<Session> {
  const api = new Api(token.trim());
  let who: WhoAmI;
  try {
    who = await api.get<WhoAmI>('/admin/whoami');
  } catch (err) {
    if (!(err instanceof ApiError) || err.status >= 500) throw err;
    who = await api.get<WhoAmI>('/v1/account');
  }
  sessionStorage.setItem(KEY, api.token);
  return { api, who, base: who.role === 'admin' ? '/admin' : '/v1/account' };
}
