import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { z } from 'zod';
import { Hl7Message, parsePath } from '@sinew/hl7v2';
import { millis } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
  PayloadType,
} from './connector';
import { deliveryVariables, FILENAME_VARIABLES, VARIABLE, type FilenameVariable } from './file-naming';
import { DEFAULT_CONTENT_TYPE } from './http.destination';
import { clientTlsConfig, loadClientTls } from './tls-config';

/** Variables every template may use (those of file names); any other `${…}` must be an HL7 path. */
export const EMAIL_VARIABLES = FILENAME_VARIABLES;
type EmailVariable = FilenameVariable;

function isVariable(name: string): name is EmailVariable {
  return (EMAIL_VARIABLES as readonly string[]).includes(name);
}

function checkTemplate(template: string, ctx: z.RefinementCtx): void {
  for (const match of template.matchAll(VARIABLE)) {
    const name = match[1] as string;
    if (isVariable(name)) continue;
    try {
      parsePath(name);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message:
          `unknown variable \${${name}}: use one of ${EMAIL_VARIABLES.map((v) => `\${${v}}`).join(', ')}, ` +
          'or an HL7 path such as ${PID-3.1}',
      });
    }
  }
}

const template = (fallback: string, description: string) =>
  z.string().default(fallback).superRefine(checkTemplate).describe(description);

const address = z.email({ error: 'expected an email address, e.g. sinew@clinic.example' });

const TEMPLATE_HELP =
  'Variables: `${message_id}`, `${delivery_id}`, `${channel_id}`, `${destination}`, `${attempt}`, `${date}` ' +
  '(YYYYMMDD, UTC), `${ext}`, and HL7 paths of an HL7 v2 payload (`${MSH-9}`, `${PID-3.1}`), decoded.';

export const emailDestinationConfig = z
  .strictObject({
    host: z.string().min(1).describe('SMTP server name or address.'),
    port: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('SMTP port (default: 587 with `tls: starttls`, 465 with `tls: tls`, 25 with `tls: none`).'),
    tls: z
      .enum(['starttls', 'tls', 'none'])
      .default('starttls')
      .describe(
        '`starttls`: connect in clear, then STARTTLS before anything else is sent; a server that does not ' +
          'offer it is refused (nothing is sent in clear). `tls`: TLS from the first byte (port 465). ' +
          '`none`: no encryption (a relay on the same machine only).',
      ),
    tls_options: clientTlsConfig
      .optional()
      .describe(
        'The CA to trust for the server instead of the system CAs, a client certificate, a server name.',
      ),
    auth: z
      .strictObject({
        user: z.string().min(1).describe('SMTP user name.'),
        password: z.string().min(1).optional().describe('Password (write it as `${ENV_VAR}`).'),
        password_file: z
          .string()
          .min(1)
          .optional()
          .describe('A file holding the password (read at each connection; a trailing newline is dropped).'),
      })
      .refine((a) => (a.password === undefined) !== (a.password_file === undefined), {
        message: 'give either password or password_file',
      })
      .optional()
      .describe('SMTP authentication (AUTH PLAIN/LOGIN); only over TLS unless `tls: none`.'),
    from: address.describe('Sender address (`From`, and the envelope sender).'),
    to: z.array(address).min(1, 'name at least one recipient').describe('Recipients.'),
    cc: z.array(address).default([]).describe('Copy recipients.'),
    subject: template(
      'Message ${message_id} from ${channel_id}',
      `Subject template; line breaks in values become spaces. ${TEMPLATE_HELP}`,
    ),
    body: template(
      'Message ${message_id} received by channel ${channel_id} is attached.',
      `Plain-text body template. ${TEMPLATE_HELP}`,
    ),
    attachment: z
      .union([
        z.literal(false),
        z.strictObject({
          filename: template('${message_id}.${ext}', `Attachment file name template. ${TEMPLATE_HELP}`),
          content_type: z
            .string()
            .min(1)
            .optional()
            .describe(
              'Content type of the attachment (default from the payload, e.g. `application/hl7-v2`).',
            ),
        }),
      ])
      .prefault({})
      .describe('The payload as an attachment (the default), or `false` for none.'),
    timeout_ms: millis(
      30_000,
      'Longest wait for the connection and each SMTP reply; past it the delivery is retried.',
    ),
  })
  .refine((c) => c.tls !== 'none' || c.tls_options === undefined, {
    message: 'tls_options apply to tls: starttls or tls only',
    path: ['tls_options'],
  });
export type EmailDestinationConfig = z.output<typeof emailDestinationConfig>;
export type EmailDestinationInput = z.input<typeof emailDestinationConfig>;

/** One email to send: its subject, plain-text body and attachments. */
export interface EmailContent {
  subject: string;
  text: string;
  attachments?: Array<{ filename: string; content: Buffer; contentType: string }>;
}

/** Values a template may read: the fixed variables, and HL7 paths when the payload is HL7 v2. */
export interface TemplateValues {
  variables: Record<EmailVariable, string>;
  hl7?: Hl7Message;
}

/** Fills a template; `clean` makes each value safe for where it goes (a header, a file name). */
export function fillTemplate(text: string, values: TemplateValues, clean: (v: string) => string): string {
  return text.replace(VARIABLE, (_m, name: string) => {
    if (isVariable(name)) return clean(values.variables[name]);
    if (!values.hl7) throw new TemplateError(`\${${name}} reads an HL7 path, and the payload is not HL7 v2`);
    return clean(values.hl7.get(name));
  });
}

class TemplateError extends Error {}

/** A header value: no control characters (no header injection through a message value). */
const headerSafe = (v: string) => v.replace(/[\u0000-\u001f\u007f]+/g, ' ');
/** A plain-text body value: line breaks kept, other control characters dropped. */
const textSafe = (v: string) => v.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
/** A file name value: letters, digits, `.`, `_` and `-` only. */
const fileSafe = (v: string) => {
  const cleaned = v.replace(/[^A-Za-z0-9._-]/g, '_');
  return /^\.+$/.test(cleaned) ? cleaned.replace(/\./g, '_') : cleaned;
};

const DEFAULT_PORT = { starttls: 587, tls: 465, none: 25 } as const;

function transportOptions(config: EmailDestinationConfig): SMTPTransport.Options {
  const auth = config.auth;
  return {
    host: config.host,
    port: config.port ?? DEFAULT_PORT[config.tls],
    secure: config.tls === 'tls',
    requireTLS: config.tls === 'starttls',
    ignoreTLS: config.tls === 'none',
    connectionTimeout: config.timeout_ms,
    greetingTimeout: config.timeout_ms,
    socketTimeout: config.timeout_ms,
    ...(config.tls !== 'none'
      ? { tls: { minVersion: 'TLSv1.2', ...(config.tls_options ? loadClientTls(config.tls_options) : {}) } }
      : {}),
    ...(auth
      ? {
          auth: {
            user: auth.user,
            pass: auth.password ?? readFileSync(auth.password_file as string, 'utf8').replace(/\r?\n$/, ''),
          },
        }
      : {}),
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/** Connection failures before any SMTP reply, as the delivery's `code` (see the engine's not-sent codes). */
function connectionCode(err: { code?: unknown; errno?: unknown; message?: unknown }): string {
  const code = typeof err.code === 'string' ? err.code : 'ERROR';
  const text = typeof err.message === 'string' ? err.message : '';
  if (/ECONNREFUSED/.test(text)) return 'ECONNREFUSED';
  if (/ENOTFOUND/.test(text)) return 'ENOTFOUND';
  if (code === 'ETIMEDOUT' || /timeout/i.test(text)) return 'TIMEOUT';
  if (code === 'ETLS' || /STARTTLS|certificate|SSL|TLS/i.test(text)) return 'TLS';
  return code;
}

/**
 * Sends one email and classifies the result: the SMTP reply code is the outcome's `code`;
 * 2xx is sent, 4xx retry, 5xx failed; no reply (refused, timed out, no STARTTLS) retry. For
 * alerts and other code that sends a notice without a channel.
 */
export async function sendEmail(
  config: EmailDestinationConfig,
  content: EmailContent,
): Promise<DeliveryOutcome> {
  let transport;
  try {
    transport = nodemailer.createTransport(transportOptions(config));
  } catch (err) {
    return { status: 'failed', code: 'CONFIG', error: (err as Error).message };
  }
  try {
    const info = await transport.sendMail({
      from: config.from,
      to: config.to,
      ...(config.cc.length > 0 ? { cc: config.cc } : {}),
      subject: content.subject,
      text: content.text,
      ...(content.attachments ? { attachments: content.attachments } : {}),
    });
    const reply = String(info.response ?? '');
    return { status: 'sent', code: /^\d{3}/.exec(reply)?.[0] ?? '250', response: Buffer.from(reply, 'utf8') };
  } catch (err) {
    const e = err as { responseCode?: unknown; response?: unknown; code?: unknown; message?: unknown };
    if (typeof e.responseCode === 'number') {
      const code = String(e.responseCode);
      const reply = typeof e.response === 'string' ? e.response : code;
      const error = `the SMTP server answered ${reply.slice(0, 200)}`;
      return e.responseCode >= 400 && e.responseCode < 500
        ? { status: 'retry', code, error, response: Buffer.from(reply, 'utf8') }
        : { status: 'failed', code, error, response: Buffer.from(reply, 'utf8') };
    }
    const code = connectionCode(e);
    return {
      status: 'retry',
      code,
      error: `cannot send through ${config.host}:${config.port ?? DEFAULT_PORT[config.tls]} (${code})`,
    };
  } finally {
    transport.close();
  }
}

/** Sends each message as an email through an SMTP server. */
export class EmailDestination implements Destination {
  constructor(
    private readonly config: EmailDestinationConfig,
    private readonly context: DestinationContext,
  ) {}

  /** The email for one delivery (subject, body, attachment), templates filled. */
  compose(request: DeliveryRequest, now = new Date()): EmailContent {
    const values: TemplateValues = {
      variables: deliveryVariables(request, now),
      ...(request.contentType === 'hl7v2' ? { hl7: Hl7Message.parse(request.body) } : {}),
    };
    const { attachment } = this.config;
    return {
      subject: fillTemplate(this.config.subject, values, headerSafe),
      text: fillTemplate(this.config.body, values, textSafe),
      ...(attachment
        ? {
            attachments: [
              {
                filename: fillTemplate(attachment.filename, values, fileSafe),
                content: request.body,
                contentType: attachment.content_type ?? contentTypeOf(request.contentType),
              },
            ],
          }
        : {}),
    };
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    let content: EmailContent;
    try {
      content = this.compose(request);
    } catch (err) {
      // A template that cannot be filled for this payload, or an HL7 payload that does not parse.
      return { status: 'failed', code: 'TEMPLATE', error: (err as Error).message };
    }
    return sendEmail(this.config, content);
  }

  async close(): Promise<void> {}

  describe(): string {
    return `smtp://${this.config.host}:${this.config.port ?? DEFAULT_PORT[this.config.tls]} (${this.config.tls})`;
  }
}

function contentTypeOf(type: PayloadType): string {
  return DEFAULT_CONTENT_TYPE[type];
}

export const emailDestination: DestinationDefinition<EmailDestinationConfig> = {
  kind: 'destination',
  accepts: ['hl7v2', 'fhir', 'json', 'text'],
  type: 'email',
  description:
    'Sends each message as an email through an SMTP server: a templated subject and plain-text body, and ' +
    'the payload as an attachment with a templated file name. STARTTLS is required by default (a server ' +
    'that does not offer it is refused, nothing is sent in clear); implicit TLS (`tls: tls`) and plain SMTP ' +
    'to a local relay (`tls: none`) are the alternatives. The attempt\u2019s code is the SMTP reply code: ' +
    '2xx is delivered, 4xx (`451`, `452` …) is retried, 5xx (`550`, `535` for refused credentials …) ' +
    'dead-letters the message; a refused connection, a timeout or a missing STARTTLS is retried. ' +
    'Message values in a subject or body reach the recipients: mind what patient data goes by email.',
  guarantee:
    'At least once: a message counts as delivered when the server accepts it (250 after DATA); if the ' +
    'connection drops after DATA but before the reply, the email is sent again.',
  configSchema: emailDestinationConfig,
  example: {
    host: 'smtp.clinic.example',
    tls: 'starttls',
    auth: { user: 'sinew', password: '${SMTP_PASSWORD}' },
    from: 'sinew@clinic.example',
    to: ['lab-desk@clinic.example'],
    subject: 'Result ${MSH-10} for ${channel_id}',
    body: 'A result arrived (message ${message_id}); the HL7 message is attached.',
    attachment: { filename: 'result-${MSH-10}.hl7', content_type: 'application/hl7-v2' },
  },
  create: (config, context) => new EmailDestination(config, context),
};
