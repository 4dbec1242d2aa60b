import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openApiDocument } from './openapi';
import { API_ROUTES } from './route';

/** The docs page's own files: everything comes from this server (no CDN, no inline script). */
const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Sinew admin API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
`;
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

let uiDir: string | undefined;
const assetCache = new Map<string, Buffer>();

function asset(name: string): Buffer {
  let b = assetCache.get(name);
  if (!b) {
    uiDir ??= dirname(require.resolve('swagger-ui-dist/package.json'));
    b = readFileSync(join(uiDir, name));
    assetCache.set(name, b);
  }
  return b;
}

/** `/openapi.json` (generated from the declared routes) and `/docs` (Swagger UI from npm). */
@Controller()
export class DocsController {
  private document?: string;

  @Get('openapi.json')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  openapi(): string {
    this.document ??= JSON.stringify(openApiDocument(API_ROUTES, process.env.npm_package_version ?? '0.1.0'));
    return this.document;
  }

  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  page(): string {
    return PAGE;
  }

  @Get('docs/init.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  init(): string {
    return INIT;
  }

  @Get('docs/:file')
  file(@Param('file') file: string, @Res() res: Response): void {
    const type = ASSETS[file];
    if (!type) throw new NotFoundException();
    res
      .setHeader('Content-Type', type)
      .setHeader('Cache-Control', 'public, max-age=86400')
      .setHeader('X-Content-Type-Options', 'nosniff')
      .send(asset(file));
  }
}
