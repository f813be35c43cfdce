// Firebase: callable functions that send and check a phone code through auth-relay.
import { HttpsError, onCall } from 'firebase-functions/v2/https';
import { checkCode, sendCode } from './auth-relay';

export const sendPhoneCode = onCall<{ phone: string }>(async (request) => {
  const sent = await sendCode({ channel: 'sms', to: request.data.phone, purpose: 'phone_verification', clientIp: request.rawRequest.ip });
  if (!sent.ok) throw new HttpsError('resource-exhausted', sent.error, { retryAfter: sent.retryAfter });
  return { sent: true };
});

export const checkPhoneCode = onCall<{ phone: string; code: string }>(async (request) => {
  if (!request.auth) throw new HttpsError('unauthenticated', 'Sign in first');
  const verified = await checkCode({ to: request.data.phone, purpose: 'phone_verification', code: request.data.code, clientIp: request.rawRequest.ip });
  if (!verified) throw new HttpsError('permission-denied', 'Wrong or expired code');
  return { verified: true };
});
