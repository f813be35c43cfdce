/**
 * The messages auth-relay writes itself (verification codes, Supabase hooks). Each part can be replaced by a
 * file in TEMPLATES_DIR named `<template>.subject.txt`, `<template>.html`, `<template>.txt` or `<template>.sms.txt`.
 */

export type TemplatePart = 'subject' | 'html' | 'text' | 'sms';

export interface TemplateDefinition {
  /** The placeholders a template (built-in or file) may use, as `{{name}}`. */
  variables: readonly string[];
  parts: Partial<Record<TemplatePart, string>>;
}

const layout = (body: string): string =>
  `<!DOCTYPE html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111;max-width:480px;margin:0 auto;padding:24px">${body}</body></html>`;

const codeBlock = (placeholder: string): string =>
  `<p style="font-size:32px;font-weight:700;letter-spacing:6px;margin:24px 0">{{${placeholder}}}</p>`;

const button = (label: string): string =>
  `<p><a href="{{link}}" style="display:inline-block;background:#111;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none">${label}</a></p>`;

const VERIFICATION_VARIABLES = ['code', 'app_name', 'expires_in', 'expires_in_minutes', 'purpose'] as const;
const SUPABASE_VARIABLES = ['token', 'link', 'app_name', 'email', 'new_email'] as const;

const IGNORE = 'If you did not ask for this, you can ignore this email.';
const ignoreNote = `<p style="color:#666;font-size:13px">${IGNORE}</p>`;
const NOT_YOU = 'If you did not make this change, secure your account right away.';

function supabaseLinkTemplate(subject: string, intro: string, action: string): TemplateDefinition {
  return {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject,
      html: layout(`<p>${intro}</p>${button(action)}<p>Or enter this code: <b>{{token}}</b></p>${ignoreNote}`),
      text: `${intro}\n\n${action}: {{link}}\n\nOr enter this code: {{token}}\n\n${IGNORE}\n`,
    },
  };
}

function supabaseNotice(subject: string, sentence: string): TemplateDefinition {
  return {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject,
      html: layout(`<p>${sentence}</p><p style="color:#666;font-size:13px">${NOT_YOU}</p>`),
      text: `${sentence}\n\n${NOT_YOU}\n`,
    },
  };
}

/** The app's name in a sentence, or the sentence without it. */
const wording = (named: boolean) => ({
  /** `before` and the app's name, or nothing: `app(' for ')` is " for Acme" or "". */
  app: (before: string): string => (named ? `${before}{{app_name}}` : ''),
  /** "your Acme account" or "your account". */
  your: (thing: string): string => (named ? `your {{app_name}} ${thing}` : `your ${thing}`),
});

/** Supabase's security notices (`*_notification` hooks): no code or link, only what changed. */
function supabaseNotices(named: boolean): Record<string, TemplateDefinition> {
  const { your } = wording(named);
  return {
    supabase_password_changed_notification: supabaseNotice(
      `${named ? 'Your {{app_name}} password' : 'Your password'} was changed`,
      `The password for ${your('account')} was changed.`,
    ),
    supabase_email_changed_notification: supabaseNotice(
      `${named ? 'Your {{app_name}} email address' : 'Your email address'} was changed`,
      `The email address for ${your('account')} was changed to {{new_email}}.`,
    ),
    supabase_phone_changed_notification: supabaseNotice(
      `${named ? 'Your {{app_name}} phone number' : 'Your phone number'} was changed`,
      `The phone number for ${your('account')} was changed.`,
    ),
    supabase_identity_linked_notification: supabaseNotice(
      `A sign-in method was linked to ${your('account')}`,
      `A new sign-in method was linked to ${your('account')}.`,
    ),
    supabase_identity_unlinked_notification: supabaseNotice(
      `A sign-in method was removed from ${your('account')}`,
      `A sign-in method was removed from ${your('account')}.`,
    ),
    supabase_mfa_factor_enrolled_notification: supabaseNotice(
      `A two-factor method was added to ${your('account')}`,
      `A two-factor authentication method was added to ${your('account')}.`,
    ),
    supabase_mfa_factor_unenrolled_notification: supabaseNotice(
      `A two-factor method was removed from ${your('account')}`,
      `A two-factor authentication method was removed from ${your('account')}.`,
    ),
  };
}

/**
 * The built-in wording, for an app with a name (`{{app_name}}`) or without one. Without a name a sentence
 * drops it rather than putting a stand-in where a name goes ("your your account").
 */
function builtinTemplates(named: boolean): Record<string, TemplateDefinition> {
  const { app, your } = wording(named);
  return {
    verification: {
      variables: VERIFICATION_VARIABLES,
      parts: {
        subject: '{{code}} is your verification code',
        html: layout(
          `<p>Your verification code${app(' for ')}:</p>${codeBlock('code')}<p>It expires in {{expires_in}}. Never share it with anyone.</p>${ignoreNote}`,
        ),
        text: `Your verification code${app(' for ')}: {{code}}\n\nIt expires in {{expires_in}}. Never share it with anyone.\n\n${IGNORE}\n`,
        sms: `Your verification code${app(' for ')} is {{code}}. It expires in {{expires_in}}. Never share it.`,
      },
    },

    supabase_signup: supabaseLinkTemplate(
      named ? 'Confirm your email address for {{app_name}}' : 'Confirm your email address',
      `Confirm your email address to finish signing up${app(' for ')}.`,
      'Confirm your email address',
    ),
    supabase_invite: supabaseLinkTemplate(
      named ? 'You have been invited to join {{app_name}}' : 'You have been invited to create an account',
      `You have been invited to create an account${app(' on ')}.`,
      'Accept the invitation',
    ),
    supabase_magiclink: supabaseLinkTemplate(`Your sign-in link${app(' for ')}`, `Use this link to sign in${app(' to ')}.`, 'Sign in'),
    supabase_recovery: supabaseLinkTemplate(
      `Reset ${your('password')}`,
      `Someone asked to reset the password for ${your('account')}.`,
      'Reset your password',
    ),
    supabase_email_change_current: supabaseLinkTemplate(
      `Confirm the change of ${your('email address')}`,
      `Confirm that you want to change ${your('email address')} from {{email}} to {{new_email}}.`,
      'Confirm the change',
    ),
    supabase_email_change_new: supabaseLinkTemplate(
      `Confirm your new email address${app(' for ')}`,
      `Confirm {{new_email}} as the new email address for ${your('account')}.`,
      'Confirm your new email address',
    ),
    supabase_email: {
      variables: SUPABASE_VARIABLES,
      parts: {
        subject: `{{token}} is ${your('sign-in code')}`,
        html: layout(`<p>${named ? 'Your {{app_name}} sign-in code' : 'Your sign-in code'}:</p>${codeBlock('token')}${ignoreNote}`),
        text: `${named ? 'Your {{app_name}} sign-in code' : 'Your sign-in code'}: {{token}}\n\n${IGNORE}\n`,
      },
    },
    supabase_reauthentication: {
      variables: SUPABASE_VARIABLES,
      parts: {
        subject: `Confirm it is you${app(' on ')}`,
        html: layout(`<p>Enter this code to confirm it is you:</p>${codeBlock('token')}${ignoreNote}`),
        text: `Enter this code to confirm it is you: {{token}}\n\n${IGNORE}\n`,
      },
    },
    ...supabaseNotices(named),
    supabase_sms: {
      variables: ['token', 'app_name'],
      parts: { sms: `${named ? 'Your {{app_name}} code' : 'Your verification code'} is {{token}}. Never share it.` },
    },
  };
}

/** The wording when an app name is configured (APP_NAME or EMAIL_FROM_NAME)… */
export const BUILTIN_TEMPLATES = builtinTemplates(true);
/** …and when none is. */
export const UNNAMED_BUILTIN_TEMPLATES = builtinTemplates(false);
