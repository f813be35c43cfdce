import { ConfigError, parseConfig } from '../src/config/env';

const issuesOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

const SID = `AC${'0'.repeat(32)}`;

describe('config of the SMTP, SES, Postmark and Twilio providers', () => {
  it('takes them in any order, with their defaults', () => {
    const config = parseConfig({
      EMAIL_PROVIDERS: 'postmark,ses,smtp',
      SMS_PROVIDERS: 'twilio,outbox',
      SMTP_URL: 'smtps://u:p@smtp.example.com:465',
      SES_REGION: 'eu-west-1',
      POSTMARK_SERVER_TOKEN: 'pm',
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'token',
      TWILIO_FROM: '+15005550006',
    });
    expect(config).toMatchObject({
      EMAIL_PROVIDERS: ['postmark', 'ses', 'smtp'],
      SMS_PROVIDERS: ['twilio', 'outbox'],
      SMTP_POOL: 5,
      SMTP_REQUIRE_TLS: true,
      POSTMARK_MESSAGE_STREAM: 'outbound',
      POSTMARK_API_URL: 'https://api.postmarkapp.com',
    });
    expect(parseConfig({ SMTP_REQUIRE_TLS: 'false' }).SMTP_REQUIRE_TLS).toBe(false);
  });

  it('names the variable a listed provider is missing', () => {
    expect(issuesOf({ EMAIL_PROVIDERS: 'smtp,ses,postmark' })).toEqual([
      'EMAIL_PROVIDERS: "smtp" is listed but SMTP_URL is not set',
      'EMAIL_PROVIDERS: "ses" is listed but SES_REGION is not set',
      'EMAIL_PROVIDERS: "postmark" is listed but POSTMARK_SERVER_TOKEN is not set',
    ]);
    expect(issuesOf({ SMS_PROVIDERS: 'twilio', TWILIO_ACCOUNT_SID: SID })).toEqual([
      'SMS_PROVIDERS: "twilio" is listed but neither TWILIO_AUTH_TOKEN nor TWILIO_API_KEY + TWILIO_API_SECRET is set',
      'SMS_PROVIDERS: "twilio" is listed but neither TWILIO_FROM nor TWILIO_MESSAGING_SERVICE_SID is set',
    ]);
  });

  it('refuses malformed values, naming the variable', () => {
    const issues = issuesOf({ SMTP_URL: 'http://smtp.example.com', SMTP_REQUIRE_TLS: 'yes', SES_REGION: 'Ireland', TWILIO_ACCOUNT_SID: 'SK123', PUBLIC_URL: 'ftp://x' });
    for (const variable of ['SMTP_URL', 'SMTP_REQUIRE_TLS', 'SES_REGION', 'TWILIO_ACCOUNT_SID', 'PUBLIC_URL']) {
      expect(issues.some((i) => i.startsWith(`${variable}:`))).toBe(true);
    }
  });
});
