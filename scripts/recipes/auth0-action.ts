// Auth0: a post-login Action that requires a code sent by auth-relay, via a form on your site.
import type { PostLoginApi, PostLoginEvent } from 'auth0-actions';
import { checkCode, sendCode } from './auth-relay';

const FORM_URL = 'https://app.example.com/verify-code';

export async function onExecutePostLogin(event: PostLoginEvent, api: PostLoginApi): Promise<void> {
  if (!event.user.email) return api.access.deny('An email address is required');
  await sendCode({ channel: 'email', to: event.user.email, purpose: '2fa', clientIp: event.request.ip });
  api.redirect.sendUserTo(FORM_URL);
}

// The form posts back to /continue with the code as a signed session token field.
export async function onContinuePostLogin(event: PostLoginEvent, api: PostLoginApi): Promise<void> {
  const { code } = api.redirect.validateToken({ secret: event.secrets.FORM_SECRET, tokenParameterName: 'code_token' });
  if (!(await checkCode({ to: event.user.email!, purpose: '2fa', code: String(code), clientIp: event.request.ip }))) api.access.deny('Wrong or expired code');
}
