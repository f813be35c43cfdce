import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export const SMTP_USER = 'relay-user';
export const SMTP_PASS = 'relay-pass-0123';

/** What the server does with the next transaction, at the SMTP step where a real server would. */
export type SmtpBehaviour =
  | { kind: 'ok' }
  | { kind: 'reject'; at: 'mail' | 'rcpt' | 'data'; code: number; message: string }
  /** The connection is cut after part of the message has arrived: nothing was accepted. */
  | { kind: 'drop-mid-data' }
  /** The whole message arrives but no reply comes: the client times out not knowing. */
  | { kind: 'no-reply' };

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  header(name: string): string | undefined;
}

export interface SmtpSink {
  url: string;
  port: number;
  /** Messages accepted (250 after DATA), as a real server would relay them. */
  received: ReceivedMail[];
  /** Logins attempted, accepted or not. */
  logins: { username: string; accepted: boolean }[];
  script(...behaviours: SmtpBehaviour[]): void;
  close(): Promise<void>;
}

const smtpError = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

function headerOf(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/**
 * A real SMTP server (the `smtp-server` package) on a free port, with AUTH PLAIN/LOGIN (user SMTP_USER,
 * password SMTP_PASS) over plain text, which a submission server allows only to trusted clients, and no
 * STARTTLS unless `starttls`. Each transaction follows the script, then `ok`.
 */
export async function startSmtpSink(opts: { starttls?: boolean } = {}): Promise<SmtpSink> {
  const script: SmtpBehaviour[] = [];
  const received: ReceivedMail[] = [];
  const logins: SmtpSink['logins'] = [];
  const current = new Map<string, SmtpBehaviour>();
  const behaviourOf = (sessionId: string): SmtpBehaviour => {
    if (!current.has(sessionId)) current.set(sessionId, script.shift() ?? { kind: 'ok' });
    return current.get(sessionId)!;
  };

  const server: SMTPServer = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    ...(opts.starttls ? {} : { disabledCommands: ['STARTTLS'] }),
    closeTimeout: 200,
    logger: false,
    onAuth(auth, _session, callback) {
      const accepted = auth.username === SMTP_USER && auth.password === SMTP_PASS;
      logins.push({ username: auth.username ?? '', accepted });
      if (!accepted) return callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
      callback(null, { user: auth.username });
    },
    onMailFrom(_address, session, callback) {
      // A pooled connection carries several transactions: each MAIL FROM starts the next behaviour.
      current.delete(session.id);
      const b = behaviourOf(session.id);
      callback(b.kind === 'reject' && b.at === 'mail' ? smtpError(b.code, b.message) : null);
    },
    onRcptTo(_address, session, callback) {
      const b = behaviourOf(session.id);
      callback(b.kind === 'reject' && b.at === 'rcpt' ? smtpError(b.code, b.message) : null);
    },
    onData(stream, session, callback) {
      const b = behaviourOf(session.id);
      const chunks: Buffer[] = [];
      if (b.kind === 'drop-mid-data') {
        stream.once('data', () => {
          for (const connection of server.connections) if (connection.id === session.id) connection._socket.destroy();
        });
      }
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (b.kind === 'drop-mid-data' || b.kind === 'no-reply') return;
        if (b.kind === 'reject' && b.at === 'data') return callback(smtpError(b.code, b.message));
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          header: (name) => headerOf(raw, name),
        });
        callback(null, `2.0.0 Ok: queued as Q${received.length}`);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${port}`,
    received,
    logins,
    script: (...behaviours) => void script.push(...behaviours),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
