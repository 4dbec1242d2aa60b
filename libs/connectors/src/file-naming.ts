/**
 * File names shared by the `file` and `sftp` connectors: the glob a poller matches names with,
 * and the name template a writer fills in from a delivery.
 */
import { z } from 'zod';
import { EXTENSION_OF } from './common';
import type { DeliveryRequest } from './connector';

/** A glob on a file name (`*`, `?`) as a regular expression. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/** Variables a delivery's templates (file names, email subjects and bodies) may use. */
export const FILENAME_VARIABLES = [
  'message_id',
  'delivery_id',
  'channel_id',
  'destination',
  'attempt',
  'date',
  'ext',
] as const;
export type FilenameVariable = (typeof FILENAME_VARIABLES)[number];

/** A `${name}` in a template. */
export const VARIABLE = /\$\{([^}]*)\}/g;

/** Lint of a template: known variables only, and a relative path that stays inside its folder. */
export function checkTemplate(template: string, ctx: z.RefinementCtx): void {
  for (const match of template.matchAll(VARIABLE)) {
    const name = match[1] as string;
    if (!(FILENAME_VARIABLES as readonly string[]).includes(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown variable \${${name}}; use one of ${FILENAME_VARIABLES.map((v) => `\${${v}}`).join(', ')}`,
      });
    }
  }
  const segments = template.split('/');
  if (template.startsWith('/') || segments.some((s) => s === '..' || s === '.' || s === '')) {
    ctx.addIssue({
      code: 'custom',
      message: 'the file name must stay inside the directory: no leading /, no empty, . or .. parts',
    });
  }
}

/** The `filename` setting of a writer, with its lint and documentation. */
export function filenameField() {
  return z
    .string()
    .min(1)
    .default('${message_id}.${ext}')
    .superRefine(checkTemplate)
    .describe(
      'File name template. Variables: `${message_id}`, `${delivery_id}`, `${channel_id}`, `${destination}`, ' +
        '`${attempt}`, `${date}` (YYYYMMDD, UTC), `${ext}` (hl7, json or txt from the payload). May contain `/` ' +
        'for sub-folders (`${date}/${message_id}.${ext}`). A file of the same name is replaced. For a batch ' +
        "file, the variables are those of the batch's first message.",
    );
}

/** Characters a variable's value may bring into a file name; others become `_`. */
function safe(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]/g, '_');
  return /^\.+$/.test(cleaned) ? cleaned.replace(/\./g, '_') : cleaned;
}

function yyyymmdd(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** The values of the template variables for one delivery. */
export function deliveryVariables(
  request: DeliveryRequest,
  now = new Date(),
): Record<FilenameVariable, string> {
  return {
    message_id: request.messageId,
    delivery_id: request.deliveryId,
    channel_id: request.channelId,
    destination: request.destination,
    attempt: String(request.attempt),
    date: yyyymmdd(now),
    ext: EXTENSION_OF[request.contentType],
  };
}

/**
 * The relative path (`/`-separated) a template gives for a delivery. Values are reduced to
 * `A-Z a-z 0-9 . _ -`, so a value never adds a folder; throws when the result would leave the
 * folder (it cannot for a template that passed {@link checkTemplate}).
 */
export function renderFilename(template: string, request: DeliveryRequest, now = new Date()): string {
  const values = deliveryVariables(request, now);
  const name = template.replace(VARIABLE, (_m, v: string) => safe(values[v as FilenameVariable] ?? ''));
  const parts = name.split('/');
  if (name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error('the file name leaves the directory');
  }
  return name;
}
