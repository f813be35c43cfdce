import express, { type Request } from 'express';

const WEBHOOK_BODY_LIMIT = '256kb';

/** Raw bytes whatever the Content-Type: signatures are over the exact body. */
export const rawBody = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });

/** The bytes `rawBody` read (none when the request had no body). */
export const bodyOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
