import { TEST_ADMIN_TOKEN } from './config';
import type { Harness } from './harness';

/** The value of a Set-Cookie header's cookie, by name. */
export function setCookie(res: Response, name: string): string | undefined {
  for (const header of res.headers.getSetCookie()) {
    const [pair] = header.split(';');
    const [k, ...v] = pair!.split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export function csrfFrom(page: string): string {
  const match = page.match(/name="_csrf" value="([^"]+)"/);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1]!;
}

export const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
  redirect: 'manual',
});

export interface DashboardSession {
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string>, opts?: { csrf?: string | null }): Promise<Response>;
}

/** Logs in through the login form, as a browser would. */
export async function logIn(harness: Harness, token = TEST_ADMIN_TOKEN): Promise<DashboardSession> {
  const loginPage = await harness.request('/dashboard/login');
  const loginCsrf = setCookie(loginPage, 'relay_login_csrf')!;
  const res = await harness.request('/dashboard/login', {
    ...form({ _csrf: csrfFrom(await loginPage.text()), token, next: '/dashboard' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `relay_login_csrf=${loginCsrf}` },
  });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  const cookie = `relay_session=${setCookie(res, 'relay_session')}`;
  const get = (path: string) => harness.request(path, { headers: { cookie }, redirect: 'manual' });
  const csrf = csrfFrom(await (await get('/dashboard')).text());
  return {
    cookie,
    csrf,
    get,
    post: (path, fields, opts = {}) => {
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      const init = form(token === null ? fields : { ...fields, _csrf: token });
      return harness.request(path, { ...init, headers: { ...(init.headers as Record<string, string>), cookie } });
    },
  };
}
