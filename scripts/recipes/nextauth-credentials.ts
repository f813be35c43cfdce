// NextAuth.js: a credentials provider that signs in with a code sent by auth-relay.
import Credentials from 'next-auth/providers/credentials';
import { checkCode } from './auth-relay';

// Step 1 (your "send me a code" route): await sendCode({ channel: 'email', to: email, purpose: 'login', clientIp })
export const emailCode = Credentials({
  name: 'Email code',
  credentials: { email: { label: 'Email', type: 'email' }, code: { label: 'Code', type: 'text' } },
  async authorize(credentials) {
    const email = String(credentials?.email ?? '');
    const code = String(credentials?.code ?? '');
    if (!(await checkCode({ to: email, purpose: 'login', code }))) return null;
    return { id: email, email };
  },
});
