import { execFileSync } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SNS_CERT_URL = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem';
export const SNS_TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-events';

/** A self-signed RSA certificate standing in for the one SNS publishes (made with openssl, as the test runs). */
export function makeSigningCertificate(): { certPem: string; keyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sns-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=sns.amazonaws.com',
        '-days',
        '2',
      ],
      { stdio: 'ignore' },
    );
    return { certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FIELDS = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
} as const;

/** An SNS HTTP message signed as SNS documents it ("name\nvalue\n" per signed field, SHA1 or SHA256 with RSA). */
export function signedSns(
  keyPem: string,
  type: keyof typeof FIELDS,
  fields: { Message: string; SubscribeURL?: string; Token?: string; Subject?: string },
  opts: { version?: '1' | '2'; certUrl?: string } = {},
): string {
  const message: Record<string, string> = {
    Type: type,
    MessageId: randomUUID(),
    TopicArn: SNS_TOPIC,
    Timestamp: new Date().toISOString(),
    ...fields,
  };
  const version = opts.version ?? '2';
  const toSign = FIELDS[type]
    .filter((f) => message[f] !== undefined)
    .map((f) => `${f}\n${message[f]}\n`)
    .join('');
  const signature = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256')
    .update(toSign, 'utf8')
    .sign(keyPem, 'base64');
  return JSON.stringify({ ...message, SignatureVersion: version, Signature: signature, SigningCertURL: opts.certUrl ?? SNS_CERT_URL });
}

/** An SES event (configuration-set event publishing) about one sent message, as the SNS `Message`. */
export function sesEventMessage(
  eventType: string,
  mail: { messageId: string; to: string; ourId?: string },
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    eventType,
    mail: {
      timestamp: new Date().toISOString(),
      messageId: mail.messageId,
      source: 'auth@acme.example',
      destination: [mail.to],
      headersTruncated: false,
      headers: [{ name: 'Subject', value: '482913 is your code' }],
      commonHeaders: { subject: '482913 is your code' },
      tags: mail.ourId ? { message_id: [mail.ourId] } : {},
    },
    ...extra,
  });
}
