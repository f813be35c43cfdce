import type { RequestHandler } from 'express';
import { holdsNul } from '../db/nul';
import { ValidationError } from '../lib/errors';

/**
 * Postgres can neither store nor compare text holding U+0000, so a query built from such input fails (a 500).
 * Refused up front instead, for the path, the query string and the parsed JSON body alike.
 */
export const refuseNul: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.originalUrl) || holdsNul(req.body)) throw new ValidationError('The request contains a NUL character (U+0000)');
  next();
};
