import { Router, type ErrorRequestHandler, type Response } from 'express';
import type { Config } from '../config/env';
import type { MessageService } from '../delivery/message-service';
import { logRequestError, toHttpError } from '../http/errors';
import { NotConfiguredError } from '../lib/errors';
import type { Templates } from '../templates/templates';
import { parseJsonBody } from '../lib/json';
import { bodyOf, rawBody } from './body';
import { interpretSupabaseHook } from './supabase-hook';
import { createSvixVerifier, type SvixVerifier } from '../lib/svix';

/**
 * Standard Webhooks with every configured secret (rotation): Supabase shows them as `v1,whsec_…`; the
 * verifier takes the `whsec_…` part.
 */
function createStandardWebhooksVerifier(secrets: string[]): SvixVerifier {
  const verifiers = secrets.map((s) => createSvixVerifier(s.replace(/^v1,/, '')));
  return {
    verify(raw, headers) {
      let lastError: unknown;
      for (const verifier of verifiers) {
        try {
          return verifier.verify(raw, headers);
        } catch (err) {
          lastError = err;
        }
      }
      throw lastError;
    },
  };
}

/**
 * Errors in the shape GoTrue reads (`{"error":{"http_code","message"}}`, with our `code` beside them); 429/503 keep their Retry-After, the
 * only case in which GoTrue retries.
 */
const supabaseErrors: ErrorRequestHandler = (err, req, res, _next) => {
  const { status, body, headers } = toHttpError(err);
  logRequestError(req, res, err, status, 'supabase hook failed');
  if (res.headersSent) return;
  if (headers) res.set(headers);
  sendJson(res, status, { error: { code: body.error.code, http_code: status, message: body.error.message } });
};

/** Exactly `application/json`: Express's own setters add `; charset=utf-8`, and GoTrue checks the type. */
function sendJson(res: Response, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

/**
 * `POST /webhooks/supabase`: verify, record and queue, then answer `200 {}` as JSON (GoTrue treats a 200
 * without that content type as a failure). Sending happens later, well outside Supabase's 5 s budget.
 */
export function supabaseHookRouter({
  config,
  messages,
  templates,
}: {
  config: Pick<Config, 'SUPABASE_HOOK_SECRET'>;
  messages: Pick<MessageService, 'accept'>;
  templates: Templates;
}): Router {
  const router = Router();
  const secrets = config.SUPABASE_HOOK_SECRET ?? [];
  const verifier = secrets.length > 0 ? createStandardWebhooksVerifier(secrets) : null;

  router.post('/webhooks/supabase', rawBody, async (req, res) => {
    if (!verifier) throw new NotConfiguredError('Set SUPABASE_HOOK_SECRET to the v1,whsec_… secret of your Supabase auth hook');
    const body = bodyOf(req);
    const { id, timestamp } = verifier.verify(body, req.headers);
    const payload = parseJsonBody(body);
    const toSend = interpretSupabaseHook(payload, { webhookId: id, timestamp }, templates);
    if (toSend.length === 0) {
      // Acknowledged so the user's action goes through, but on-call should know an email was not sent.
      const action = (payload as { email_data?: { email_action_type?: unknown } } | null)?.email_data?.email_action_type;
      req.log.warn(
        { webhook_id: id, email_action_type: action ?? null },
        'supabase hook not delivered: no template for this email_action_type and no code in it',
      );
    }
    for (const message of toSend) {
      const result = await messages.accept(message);
      req.log.info({ webhook_id: id, message_id: result.messageId, duplicate: result.duplicate }, 'supabase hook accepted');
    }
    sendJson(res, 200, {});
  });
  router.use('/webhooks/supabase', supabaseErrors);
  return router;
}
