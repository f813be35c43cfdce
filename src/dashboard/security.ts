import type { RequestHandler } from 'express';

/** No inline script or style anywhere: the stylesheet and script are served from /dashboard/assets/. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * bull-board's prebuilt UI carries inline style attributes (but no inline script), so its pages allow inline
 * styles and nothing else more; its web fonts are not loaded (the UI falls back to system fonts).
 */
export const QUEUES_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Pages are never cached (they carry the CSRF token and live data); content-hashed static files may be. */
export function securityHeaders(csp: string): RequestHandler {
  return (req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    if (!req.path.includes('/static/')) res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
