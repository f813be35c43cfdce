// A hand-rolled 2FA step in Express: no Math.random, no `!==` on codes, no codes in memory: auth-relay does it.
import express from 'express';
import { checkCode, sendCode } from './auth-relay';

export const twoFactor = express.Router().use(express.json());

twoFactor.post('/2fa/send', async (req, res) => {
  const phone = String(req.body.phone);
  const sent = await sendCode({ channel: 'sms', to: phone, purpose: '2fa', clientIp: req.ip, fallbackEmail: req.body.email });
  if (!sent.ok && sent.retryAfter) res.set('Retry-After', String(sent.retryAfter));
  res.status(sent.ok ? 204 : 429).end();
});

twoFactor.post('/2fa/verify', async (req, res) => {
  const verified = await checkCode({ to: String(req.body.phone), purpose: '2fa', code: String(req.body.code), clientIp: req.ip });
  res.status(verified ? 204 : 401).end();
});
