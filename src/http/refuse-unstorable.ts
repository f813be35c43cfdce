import type { RequestHandler } from 'express';
import { unstorable } from '../db/storable';
import { ValidationError } from '../lib/errors';

/**
 * What Postgres can neither store nor compare (U+0000, a lone UTF-16 surrogate, JSON nested past
 * MAX_JSON_DEPTH) makes a query built from it fail: a 500, or every message written with it failing.
 * Refused up front instead: in the path and query string for every request (only U+0000 can come that way),
 * and in the parsed body after each body parser.
 */
export const refuseNulInUrl: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.originalUrl)) throw new ValidationError('The request contains a NUL character (U+0000)');
  next();
};

export const refuseUnstorableInBody: RequestHandler = (req, _res, next) => {
  const problem = unstorable(req.body);
  if (problem) throw new ValidationError(`The request body cannot be stored: ${problem}`);
  next();
};
