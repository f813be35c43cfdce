import { BUILTIN_TEMPLATES } from '../src/templates/builtin';
import { createTemplates, spokenDuration } from '../src/templates/templates';

/**
 * Every built-in template, rendered with and without an app name, reads as a sentence a person wrote: no
 * doubled words ("your your account"), no placeholder left, no gap where a name was dropped.
 */

const VARS = {
  code: '561166',
  token: '305805',
  link: 'https://abcdefgh.supabase.co/auth/v1/verify?token=pkce_1&type=signup',
  email: 'old@example.com',
  new_email: 'new@example.com',
  expires_in: '10 minutes',
  expires_in_minutes: '10',
  purpose: 'sign-in',
};

const visibleText = (html: string): string =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** What is wrong with one rendered part, as a list (empty when it reads well). */
function wordingProblems(rendered: string, appName: string | undefined): string[] {
  const problems: string[] = [];
  const words = rendered.toLowerCase().match(/[a-z0-9'-]+/g) ?? [];
  words.forEach((w, i) => {
    if (i > 0 && w === words[i - 1]) problems.push(`doubled word "${w}"`);
  });
  if (/\{\{|\}\}/.test(rendered)) problems.push('placeholder left');
  if (/\S {2,}\S/.test(rendered)) problems.push('double space');
  if (/\s[.,:;!?]/.test(rendered)) problems.push('space before punctuation');
  if (/\b(for|to|on|of|from)\s*[.:,]/i.test(rendered)) problems.push('preposition with nothing after it');
  if (/undefined|null|your account account/i.test(rendered)) problems.push('stand-in text');
  if (!/^[A-Z0-9]/.test(rendered.trim())) problems.push('does not start with a capital');
  if (appName === undefined && /acme/i.test(rendered)) problems.push('names an app that is not configured');
  return problems;
}

const cases = Object.keys(BUILTIN_TEMPLATES).flatMap((name) =>
  [undefined, 'Acme'].map((appName) => [name, appName ?? '(no app name)', appName] as const),
);

describe('built-in wording', () => {
  it.each(cases)('%s with %s reads well in every part', (name, _label, appName) => {
    const templates = createTemplates({ appName });
    const parts = BUILTIN_TEMPLATES[name]!.parts;
    const rendered: Record<string, string> = {};
    if (parts.subject) {
      const email = templates.email([name], VARS);
      rendered.subject = email.subject;
      rendered.text = email.text;
      rendered.html = visibleText(email.html);
    }
    if (parts.sms) rendered.sms = templates.sms([name], VARS);
    expect(Object.keys(rendered).length).toBeGreaterThan(0);
    const problems = Object.entries(rendered).flatMap(([part, value]) =>
      wordingProblems(value, appName).map((p) => `${part}: ${p} in "${value}"`),
    );
    expect(problems).toEqual([]);
    // With a name, the reader can tell which app wrote to them.
    if (appName) expect(Object.values(rendered).join(' ')).toContain('Acme');
  });

  it('says the examples from the report in good English', () => {
    const unnamed = createTemplates({});
    expect(unnamed.sms(['supabase_sms'], VARS)).toBe('Your verification code is 305805. Never share it.');
    expect(unnamed.email(['supabase_recovery'], VARS).subject).toBe('Reset your password');
    expect(unnamed.email(['supabase_recovery'], VARS).text).toContain('Someone asked to reset the password for your account.');
    expect(unnamed.email(['verification'], VARS).text).toMatch(/^Your verification code: 561166\n/);
    const named = createTemplates({ appName: 'Acme' });
    expect(named.email(['supabase_recovery'], VARS).subject).toBe('Reset your Acme password');
    expect(named.sms(['verification'], VARS)).toBe('Your verification code for Acme is 561166. It expires in 10 minutes. Never share it.');
  });

  it('says how long a code lasts with the right unit and number', () => {
    expect([30, 60, 90, 600, 3600, 7200].map(spokenDuration)).toEqual([
      '30 seconds',
      '1 minute',
      '2 minutes',
      '10 minutes',
      '1 hour',
      '2 hours',
    ]);
  });
});
