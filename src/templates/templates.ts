import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { VERIFICATION_PURPOSES } from '../config/env';
import { escapeHtml } from '../lib/redact';
import { BUILTIN_TEMPLATES, UNNAMED_BUILTIN_TEMPLATES, type TemplateDefinition, type TemplatePart } from './builtin';

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export class TemplateError extends Error {}

const PART_SUFFIXES: Record<string, TemplatePart> = {
  '.subject.txt': 'subject',
  '.sms.txt': 'sms',
  '.html': 'html',
  '.txt': 'text',
};

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** `verification_<purpose>` files override the generic `verification` template for one purpose. */
const KNOWN: Record<string, TemplateDefinition> = {
  ...BUILTIN_TEMPLATES,
  ...Object.fromEntries(VERIFICATION_PURPOSES.map((p) => [`verification_${p}`, { ...BUILTIN_TEMPLATES.verification!, parts: {} }])),
};

function splitFileName(file: string): { name: string; part: TemplatePart } | undefined {
  // Longest suffix first, so `x.subject.txt` is a subject and not the text part of `x.subject`.
  for (const suffix of Object.keys(PART_SUFFIXES).sort((a, b) => b.length - a.length)) {
    if (file.endsWith(suffix)) return { name: file.slice(0, -suffix.length), part: PART_SUFFIXES[suffix]! };
  }
  return undefined;
}

/**
 * Reads TEMPLATES_DIR once at start-up; a misnamed file, an unknown placeholder, or `{{app_name}}` with no app
 * name configured stops the start with its name.
 */
function loadOverrides(dir: string | undefined, named: boolean): Map<string, string> {
  const overrides = new Map<string, string>();
  if (!dir) return overrides;
  if (!existsSync(dir)) throw new TemplateError(`TEMPLATES_DIR: ${dir} does not exist`);
  for (const file of readdirSync(dir)) {
    const parsed = splitFileName(file);
    if (!parsed) continue;
    const definition = KNOWN[parsed.name];
    if (!definition) {
      throw new TemplateError(`TEMPLATES_DIR: ${file} overrides no known template (known: ${Object.keys(KNOWN).join(', ')})`);
    }
    const source = readFileSync(path.join(dir, file), 'utf8');
    for (const [, variable] of source.matchAll(PLACEHOLDER)) {
      if (!definition.variables.includes(variable!)) {
        throw new TemplateError(
          `TEMPLATES_DIR: ${file} uses {{${variable}}}; it may use ${definition.variables.map((v) => `{{${v}}}`).join(', ')}`,
        );
      }
      if (variable === 'app_name' && !named) {
        throw new TemplateError(`TEMPLATES_DIR: ${file} uses {{app_name}}, but no app name is set: set APP_NAME (or EMAIL_FROM_NAME)`);
      }
    }
    overrides.set(`${parsed.name}${'\u0000'}${parsed.part}`, source);
  }
  return overrides;
}

/** A validity period as a reader says it ("1 minute", "10 minutes", "2 hours"), for `{{expires_in}}`. */
export function spokenDuration(seconds: number): string {
  const [n, unit] =
    seconds >= 3600 && seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds >= 60
        ? [Math.round(seconds / 60), 'minute']
        : [Math.max(1, Math.round(seconds)), 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

export type Templates = ReturnType<typeof createTemplates>;

/** `appName` is APP_NAME (or EMAIL_FROM_NAME); without one the built-ins use their wording that names no app. */
export function createTemplates({ dir, appName }: { dir?: string; appName?: string }) {
  const overrides = loadOverrides(dir, appName !== undefined);
  const builtins = appName === undefined ? UNNAMED_BUILTIN_TEMPLATES : BUILTIN_TEMPLATES;

  /** The first of `names` (most specific first) with this part, files before built-ins. */
  function source(names: readonly string[], part: TemplatePart): string {
    for (const name of names) {
      const override = overrides.get(`${name}${'\u0000'}${part}`);
      if (override !== undefined) return override;
    }
    for (const name of names) {
      const builtin = builtins[name]?.parts[part];
      if (builtin !== undefined) return builtin;
    }
    throw new TemplateError(`no ${part} template among ${names.join(', ')}`);
  }

  function fill(template: string, vars: Record<string, string>, escape: boolean): string {
    const values: Record<string, string> = { ...(appName === undefined ? {} : { app_name: appName }), ...vars };
    return template.replace(PLACEHOLDER, (whole, name: string) => {
      const value = values[name];
      if (value === undefined) return whole;
      return escape ? escapeHtml(value) : value;
    });
  }

  return {
    /** Whether a built-in template of this name exists (overrides only replace built-ins). */
    has(name: string): boolean {
      return name in BUILTIN_TEMPLATES;
    },
    email(names: readonly string[], vars: Record<string, string>): RenderedEmail {
      return {
        // A subject is one header line whatever a template file contains.
        subject: fill(source(names, 'subject'), vars, false)
          .replace(/\s*[\r\n]+\s*/g, ' ')
          .trim(),
        html: fill(source(names, 'html'), vars, true),
        text: fill(source(names, 'text'), vars, false),
      };
    },
    sms(names: readonly string[], vars: Record<string, string>): string {
      return fill(source(names, 'sms'), vars, false).trim();
    },
  };
}
