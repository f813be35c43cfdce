import type { RequestHandler } from 'express';
import { holdsNul } from '../db/nul';
import { ValidationError } from '../lib/errors';

/**
 * Postgres can neither store nor compare text holding U+0000, so a query built from such input fails (a 500).
 * Refused up front instead: in the path and query string for every request, and in the parsed body after
 * each body parser.
 */
const refused = () => new ValidationError('The request contains a NUL character (U+0000)');

export const refuseNulInUrl: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.originalUrl)) throw refused();
  next();
};

export const refuseNulInBody: RequestHandler = (req, _res, next) => {
  if (holdsNul(req.body)) throw refused();
  next();
};
