import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';

/**
 * The web console (built by `npm install` into dist/console) as the `api` role serves it at `/`:
 * hashed assets cached for a year, index.html for every other page the browser asks for (the
 * console routes in the browser), and a Content-Security-Policy that allows only the engine's
 * own scripts, styles and API.
 */

/** Paths that belong to the engine, never to the console's pages. */
const ENGINE_PATHS = /^\/(api|oauth|fhir|health|ready|metrics|openapi\.json|docs)(\/|$)/;

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The built console: SINEW_CONSOLE_DIR, else dist/console beside the bundle or the repository's. */
export function findConsoleDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env.SINEW_CONSOLE_DIR,
    // dist/sinew.js → dist/console
    join(__dirname, 'console'),
    // apps/engine/src → dist/console (the engine run from source, as the tests do)
    resolve(__dirname, '..', '..', '..', 'dist', 'console'),
  ];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'index.html')));
}

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

/** Express middleware serving the console from `dir`. */
export function consoleMiddleware(dir: string) {
  // index.html names the current hashed assets: read again when a new build replaces it.
  const indexPath = join(dir, 'index.html');
  let index = { mtimeMs: -1, body: Buffer.alloc(0) };
  const currentIndex = (): Buffer => {
    const mtimeMs = statSync(indexPath, { throwIfNoEntry: false })?.mtimeMs ?? index.mtimeMs;
    if (mtimeMs !== index.mtimeMs) index = { mtimeMs, body: readFileSync(indexPath) };
    return index.body;
  };
  currentIndex();
  const assets = express.static(join(dir, 'assets'), {
    immutable: true,
    maxAge: '365d',
    index: false,
    fallthrough: false,
    setHeaders: (res) => securityHeaders(res),
  });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (ENGINE_PATHS.test(req.path)) return next();
    if (req.path.startsWith('/assets/')) {
      req.url = req.url.slice('/assets'.length);
      assets(req, res, (err?: unknown) => {
        // A missing asset is a 404 (never index.html: a stale page would load HTML as script).
        const status = (err as { status?: number } | undefined)?.status ?? 404;
        res
          .status(status)
          .type('text/plain')
          .send(status === 404 ? 'not found' : 'error');
      });
      return;
    }
    // Every other path is one of the console's pages (the browser routes it).
    securityHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(currentIndex());
  };
}
