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

const VERIFICATION_VARIABLES = ['code', 'app_name', 'expires_in_minutes', 'purpose'] as const;
const SUPABASE_VARIABLES = ['token', 'link', 'app_name', 'email', 'new_email'] as const;

const ignoreNote = '<p style="color:#666;font-size:13px">If you did not ask for this, you can ignore this email.</p>';

function supabaseLinkTemplate(subject: string, intro: string, action: string): TemplateDefinition {
  return {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject,
      html: layout(`<p>${intro}</p>${button(action)}<p>Or enter this code: <b>{{token}}</b></p>${ignoreNote}`),
      text: `${intro}\n\n${action}: {{link}}\n\nOr enter this code: {{token}}\n\nIf you did not ask for this, you can ignore this email.\n`,
    },
  };
}

function supabaseNotice(subject: string, sentence: string): TemplateDefinition {
  return {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject,
      html: layout(`<p>${sentence}</p><p style="color:#666;font-size:13px">If this was not you, secure your account now.</p>`),
      text: `${sentence}\n\nIf this was not you, secure your account now.\n`,
    },
  };
}

export const BUILTIN_TEMPLATES: Record<string, TemplateDefinition> = {
  verification: {
    variables: VERIFICATION_VARIABLES,
    parts: {
      subject: '{{code}} is your verification code',
      html: layout(
        `<p>Your verification code for {{app_name}}:</p>${codeBlock('code')}<p>It expires in {{expires_in_minutes}} minutes. Never share it with anyone.</p>${ignoreNote}`,
      ),
      text: 'Your verification code for {{app_name}}: {{code}}\n\nIt expires in {{expires_in_minutes}} minutes. Never share it with anyone.\n\nIf you did not ask for this, you can ignore this email.\n',
      sms: 'Your verification code for {{app_name}} is {{code}}. It expires in {{expires_in_minutes}} min. Never share it.',
    },
  },

  supabase_signup: supabaseLinkTemplate('Confirm your email for {{app_name}}', 'Confirm your email address to finish signing up to {{app_name}}.', 'Confirm your email'),
  supabase_invite: supabaseLinkTemplate("You're invited to {{app_name}}", 'You have been invited to create an account on {{app_name}}.', 'Accept the invitation'),
  supabase_magiclink: supabaseLinkTemplate('Your sign-in link for {{app_name}}', 'Use this link to sign in to {{app_name}}.', 'Sign in'),
  supabase_recovery: supabaseLinkTemplate('Reset your {{app_name}} password', 'Someone asked to reset the password of your {{app_name}} account.', 'Reset your password'),
  supabase_email_change_current: supabaseLinkTemplate(
    'Confirm your email change on {{app_name}}',
    'Confirm that you want to change your {{app_name}} email address from {{email}} to {{new_email}}.',
    'Confirm the change',
  ),
  supabase_email_change_new: supabaseLinkTemplate(
    'Confirm your new email for {{app_name}}',
    'Confirm {{new_email}} as the new email address of your {{app_name}} account.',
    'Confirm your new email',
  ),
  supabase_email: {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject: '{{token}} is your {{app_name}} code',
      html: layout(`<p>Your {{app_name}} sign-in code:</p>${codeBlock('token')}${ignoreNote}`),
      text: 'Your {{app_name}} sign-in code: {{token}}\n\nIf you did not ask for this, you can ignore this email.\n',
    },
  },
  supabase_reauthentication: {
    variables: SUPABASE_VARIABLES,
    parts: {
      subject: 'Confirm it is you on {{app_name}}',
      html: layout(`<p>Enter this code to confirm it is you:</p>${codeBlock('token')}${ignoreNote}`),
      text: 'Enter this code to confirm it is you: {{token}}\n\nIf you did not ask for this, you can ignore this email.\n',
    },
  },
  supabase_password_changed_notification: supabaseNotice('Your {{app_name}} password was changed', 'The password of your {{app_name}} account was changed.'),
  supabase_email_changed_notification: supabaseNotice(
    'Your {{app_name}} email address was changed',
    'The email address of your {{app_name}} account was changed to {{new_email}}.',
  ),
  supabase_phone_changed_notification: supabaseNotice('Your {{app_name}} phone number was changed', 'The phone number of your {{app_name}} account was changed.'),
  supabase_identity_linked_notification: supabaseNotice('A sign-in method was linked to your {{app_name}} account', 'A new sign-in method was linked to your {{app_name}} account.'),
  supabase_identity_unlinked_notification: supabaseNotice('A sign-in method was removed from your {{app_name}} account', 'A sign-in method was removed from your {{app_name}} account.'),
  supabase_mfa_factor_enrolled_notification: supabaseNotice('Two-factor method added on {{app_name}}', 'A two-factor authentication method was added to your {{app_name}} account.'),
  supabase_mfa_factor_unenrolled_notification: supabaseNotice('Two-factor method removed on {{app_name}}', 'A two-factor authentication method was removed from your {{app_name}} account.'),
  supabase_sms: {
    variables: ['token', 'app_name'],
    parts: { sms: 'Your {{app_name}} code is {{token}}. Never share it.' },
  },
};
