import {
  configValue,
  type ConnectorContext,
  databaseConnection,
  fileLocation,
  tlsNote,
  envName,
  port,
  transmissionIsMllp,
  type Settings,
} from './connectors';
import type { Notes } from './report';
import { child, children, flag, int, mapEntries, strings, text, type XmlNode } from './xml';

/** The default template of a Mirth sender: the encoded message, unchanged. */
export function isEncodedData(template: string | undefined): boolean {
  return template === undefined || template.trim() === '' || template.trim() === '${message.encodedData}';
}

/** A destination's own settings (type and connector keys), or undefined when there is none. */
export function convertDestinationConnector(
  connector: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
): Settings | undefined {
  const transport = (text(connector, 'transportName') ?? '').trim();
  const props = child(connector, 'properties') ?? {};
  const n = notes.under('properties');
  switch (transport) {
    case 'TCP Sender':
      return tcpSender(props, n);
    case 'HTTP Sender':
      return httpSender(props, n, ctx, name);
    case 'File Writer':
      return fileWriter(props, n, ctx, name);
    case 'Database Writer':
      return databaseWriter(props, n, ctx, name);
    case 'Channel Writer':
      return channelWriter(props, n, ctx);
    case 'SMTP Sender':
      return smtpSender(props, n, ctx, name);
    default: {
      const script = text(props, 'script');
      notes.notConverted(
        'transportName',
        `${transport || 'unknown'} destination`,
        'no Sinew destination corresponds to this Mirth connector: left out of the channel',
        script,
      );
      return undefined;
    }
  }
}

function templateNote(props: XmlNode, tag: string, notes: Notes): void {
  const template = text(props, tag);
  if (isEncodedData(template)) notes.exact(tag, 'template', 'sends the message (the pipeline output)');
  else
    notes.notConverted(
      tag,
      'template',
      'a template other than ${message.encodedData}: Sinew sends the message or a transformer output; write a transformer for this payload',
      template,
    );
}

function tcpSender(props: XmlNode, notes: Notes): Settings {
  const host = configValue(
    (text(props, 'remoteAddress') ?? '').trim(),
    notes,
    'remoteAddress',
    'remote address',
  );
  const p = configValue((text(props, 'remotePort') ?? '').trim(), notes, 'remotePort', 'remote port');
  const out: Settings = {
    type: 'mllp',
    url: `mllp://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${p}`,
  };
  notes.exact('remoteAddress', 'TCP Sender address', `url: ${String(out.url)}`);
  if (!transmissionIsMllp(props))
    notes.notConverted(
      'transmissionModeProperties',
      'transmission mode',
      'non-MLLP framing: Sinew sends with MLLP only',
    );
  const responseTimeout = int(props, 'responseTimeout');
  if (responseTimeout !== undefined && responseTimeout > 0) {
    out.ack_timeout_ms = responseTimeout;
    notes.exact('responseTimeout', 'response timeout', `ack_timeout_ms: ${responseTimeout}`);
  }
  const sendTimeout = int(props, 'sendTimeout');
  if (sendTimeout !== undefined && sendTimeout > 0) {
    out.connect_timeout_ms = sendTimeout;
    notes.approximate('sendTimeout', 'send timeout', `connect_timeout_ms: ${sendTimeout}`);
  }
  if (flag(props, 'ignoreResponse'))
    notes.notConverted(
      'ignoreResponse',
      'ignore response',
      'Sinew always reads the ACK and retries on AE/no answer',
    );
  if (flag(props, 'serverMode'))
    notes.notConverted(
      'serverMode',
      'server mode',
      'the Mirth sender waits for the peer to connect; Sinew connects out',
    );
  templateNote(props, 'template', notes);
  tlsNote(props, notes);
  return out;
}

function httpSender(props: XmlNode, notes: Notes, ctx: ConnectorContext, name: string): Settings {
  const url = configValue((text(props, 'host') ?? '').trim(), notes, 'host', 'URL');
  const out: Settings = { type: 'http', url };
  notes.exact('host', 'URL', `url: ${url}`);
  const method = (text(props, 'method') ?? 'post').trim().toUpperCase();
  if (['POST', 'PUT', 'PATCH'].includes(method)) {
    out.method = method;
    notes.exact('method', `method ${method}`, `method: ${method}`);
  } else
    notes.notConverted(
      'method',
      `method ${method}`,
      'the http destination sends POST, PUT or PATCH; POST is used',
    );
  const headers: Record<string, string> = {};
  for (const { key, value } of mapEntries(child(props, 'headers'))) {
    const values = strings(value, 'list');
    headers[key] = configValue(values.join(', '), notes, `headers/${key}`, `header ${key}`);
  }
  const params = mapEntries(child(props, 'parameters'));
  if (params.length)
    notes.notConverted(
      'parameters',
      'query parameters',
      `add them to url by hand: ${params.map((p) => p.key).join(', ')}`,
    );
  if (flag(props, 'useHeadersVariable') || flag(props, 'useParametersVariable'))
    notes.notConverted(
      'headersVariable',
      'headers from a map variable',
      'Sinew headers are fixed per destination',
    );
  if (flag(props, 'useAuthentication')) {
    const type = (text(props, 'authenticationType') ?? 'Basic').trim();
    const env = envName(ctx.channelId, name, 'AUTHORIZATION');
    headers.Authorization = `\${${env}}`;
    notes.approximate(
      'useAuthentication',
      `${type} authentication`,
      `header Authorization: \${${env}} (for Basic: "Basic " + base64 of user:password); the credentials were not copied${type === 'Digest' ? '; Digest authentication is not supported' : ''}`,
    );
  }
  if (Object.keys(headers).length) {
    out.headers = headers;
    notes.exact('headers', 'headers', `headers: ${Object.keys(headers).join(', ')}`);
  }
  const ct = (text(props, 'contentType') ?? '').trim();
  if (ct) {
    out.content_type = ct;
    notes.exact('contentType', 'content type', `content_type: ${ct}`);
  }
  const timeout = int(props, 'socketTimeout');
  if (timeout !== undefined && timeout > 0) {
    out.timeout_ms = timeout;
    notes.exact('socketTimeout', 'timeout', `timeout_ms: ${timeout}`);
  }
  if (flag(props, 'useProxyServer'))
    notes.notConverted('useProxyServer', 'proxy', 'set HTTPS_PROXY for the engine process');
  if (flag(props, 'multipart')) notes.notConverted('multipart', 'multipart', 'Sinew sends one body');
  templateNote(props, 'content', notes);
  return out;
}

/** Mirth file name variables → the file destination's. */
function fileName(pattern: string, notes: Notes): string {
  const unknown: string[] = [];
  const out = pattern.replace(/\$\{([^}]+)\}/g, (_w, v: string) => {
    if (v === 'message.messageId') return '${message_id}';
    if (v === 'message.channelId') return '${channel_id}';
    unknown.push(v);
    return '${message_id}';
  });
  if (unknown.length)
    notes.approximate(
      'outputPattern',
      'file name',
      `${unknown.map((u) => `\${${u}}`).join(', ')} has no Sinew equivalent: \${message_id} used (filename: ${out})`,
    );
  else notes.exact('outputPattern', 'file name', `filename: ${out}`);
  return out;
}

function fileWriter(props: XmlNode, notes: Notes, ctx: ConnectorContext, name: string): Settings | undefined {
  const out = fileLocation(props, notes, ctx, name, 'File Writer');
  if (!out) return undefined;
  const scheme = (text(props, 'scheme') ?? 'FILE').trim();
  const pattern = (text(props, 'outputPattern') ?? '').trim();
  if (pattern) out.filename = fileName(pattern, notes);
  if (flag(props, 'outputAppend'))
    notes.notConverted(
      'outputAppend',
      'append to file',
      'Sinew writes one file per message (a file of the same name is replaced)',
    );
  if (flag(props, 'errorOnExists'))
    notes.approximate('errorOnExists', 'error if the file exists', 'a file of the same name is replaced');
  if (flag(props, 'temporary') && scheme === 'SFTP')
    notes.exact(
      'temporary',
      'temporary file',
      'the sftp destination always uploads under a temporary name, then renames',
    );
  templateNote(props, 'template', notes);
  return out;
}

function databaseWriter(
  props: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
): Settings | undefined {
  const out: Settings = { type: 'database' };
  if (!databaseConnection(props, out, notes, ctx, name)) return undefined;
  if (flag(props, 'useScript')) {
    const script = text(props, 'query') ?? '';
    const found = scriptStatement(script);
    if (!found) {
      notes.notConverted(
        'query',
        'JavaScript statement',
        'the statement is built by a script: write it as a parameterised statement (statements[0].sql with :name parameters) by hand; the destination is left out of the channel',
        script,
      );
      return undefined;
    }
    out.statements = [found];
    notes.approximate(
      'query',
      'JavaScript statement',
      `statements[0].sql read from the script's one executeUpdate call, its $('…') values bound as parameters (${Object.keys(found.params).join(', ')}) from the destination transformer's JSON; the rest of the script is not converted`,
      script,
    );
    return out;
  }
  const query = (text(props, 'query') ?? '').trim();
  const params: Record<string, string> = {};
  const whole: string[] = [];
  const sql = query.replace(/\$\{([^}]+)\}/g, (_w, v: string) => {
    const param = v.replace(/\W/g, '_').replace(/^(\d)/, '_$1');
    if (v === 'message.encodedData' || v === 'message.rawData' || v === 'message.transformedData') {
      params[param] = '$';
      whole.push(v);
    } else params[param] = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(v) ? v : param;
    return `:${param}`;
  });
  out.statements = [{ sql, params }];
  const names = Object.keys(params);
  if (names.length)
    notes.approximate(
      'query',
      'statement',
      `statements[0].sql with named parameters ${names.map((p) => `:${p}`).join(', ')} in place of Mirth's \${…}, bound from the paths in params (${names.map((p) => `${p}: ${params[p] ?? ''}`).join(', ')}): each must be a field of the JSON the destination's transformer builds${whole.length ? `; ${whole.join(', ')} is bound to the whole payload ($)` : ''}`,
      query,
    );
  else notes.exact('query', 'statement', 'statements[0].sql: as written in Mirth');
  return out;
}

/** One JavaScript string literal ('…' or "…") at `at`, or undefined. */
function stringLiteral(src: string, at: number): { value: string; end: number } | undefined {
  const quote = src[at];
  if (quote !== '"' && quote !== "'") return undefined;
  let value = '';
  for (let i = at + 1; i < src.length; i++) {
    const c = src[i] ?? '';
    if (c === '\\') {
      const next = src[++i] ?? '';
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
    } else if (c === quote) return { value, end: i + 1 };
    else if (c === '\n') return undefined;
    else value += c;
  }
  return undefined;
}

/**
 * The statement of a Mirth Database Writer script of the usual form: one
 * `dbConn.executeUpdate("INSERT … '" + $('name') + "' …")`, its `$('name')` values as `:name`
 * parameters. Undefined for any other script.
 */
export function scriptStatement(script: string): { sql: string; params: Record<string, string> } | undefined {
  const calls = [...script.matchAll(/\bexecuteUpdate\s*\(/g)];
  if (calls.length !== 1) return undefined;
  let i = (calls[0]?.index ?? 0) + (calls[0]?.[0].length ?? 0);
  const hole = '\u0000';
  let sql = '';
  const params: Record<string, string> = {};
  let expectValue = true;
  for (;;) {
    while (/\s/.test(script[i] ?? '')) i++;
    const c = script[i];
    if (c === undefined) return undefined;
    if (!expectValue) {
      if (c === '+') {
        i++;
        expectValue = true;
        continue;
      }
      if (c === ')') break;
      return undefined;
    }
    const literal = stringLiteral(script, i);
    if (literal) {
      sql += literal.value;
      i = literal.end;
    } else {
      const m = /^\$\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*\)(?:\.toString\(\))?/.exec(script.slice(i));
      if (!m) return undefined;
      const name = m[2] ?? '';
      params[name] = name;
      sql += `${hole}${name}${hole}`;
      i += m[0].length;
    }
    expectValue = false;
  }
  const text = sql
    .replace(/'\u0000(\w+)\u0000'/g, ':$1')
    .replace(/\u0000(\w+)\u0000/g, ':$1')
    .trim();
  if (!text || text.includes(hole)) return undefined;
  return { sql: text, params };
}

function channelWriter(props: XmlNode, notes: Notes, ctx: ConnectorContext): Settings | undefined {
  const id = (text(props, 'channelId') ?? '').trim();
  if (!id || id === 'none') {
    notes.notConverted('channelId', 'target channel', 'no channel selected in Mirth');
    return undefined;
  }
  const target = ctx.channelIds.get(id);
  const out: Settings = { type: 'channel', channel: target ?? `mirth-${id}` };
  if (target && ctx.channelReaders.has(target))
    notes.exact('channelId', 'target channel', `channel: ${target}`);
  else if (target)
    notes.notConverted(
      'channelId',
      'target channel',
      `channel: ${target}, whose Mirth source is not a Channel Reader: Sinew hands a message on only to a channel whose source is type channel (naming this channel in from), so give ${target} such a source, or send to it over its own connector (MLLP, HTTP)`,
    );
  else
    notes.notConverted(
      'channelId',
      'target channel',
      `the channel ${id} is not among the imported files: channel: mirth-${id} must be replaced with the Sinew id of its channel`,
    );
  templateNote(props, 'channelTemplate', notes);
  const vars = strings(props, 'mapVariables');
  if (vars.length)
    notes.notConverted(
      'mapVariables',
      'map variables',
      `Sinew has no channel map to pass along: ${vars.join(', ')} (use business keys in the receiving channel)`,
    );
  return out;
}

/** Mirth message variables → the email destination's template variables. */
const EMAIL_VARIABLES: Record<string, string> = {
  'message.messageId': '${message_id}',
  'message.channelId': '${channel_id}',
  date: '${date}',
  DATE: '${date}',
};
const WHOLE_MESSAGE = new Set(['message.encodedData', 'message.rawData', 'message.transformedData']);

/** A subject or body with Mirth's variables as the email destination's, or left out with a note. */
function emailTemplate(props: XmlNode, tag: string, notes: Notes): string | undefined {
  const value = text(props, tag);
  if (value === undefined || value === '') return undefined;
  const mapped: string[] = [];
  const whole: string[] = [];
  const dropped: string[] = [];
  const out = value.replace(/\$\{([^}]+)\}/g, (w, v: string) => {
    const sinew = EMAIL_VARIABLES[v];
    if (sinew) {
      mapped.push(`${w} → ${sinew}`);
      return sinew;
    }
    if (WHOLE_MESSAGE.has(v)) {
      whole.push(w);
      return '';
    }
    dropped.push(w);
    return v;
  });
  if (dropped.length)
    notes.notConverted(
      tag,
      tag,
      `${dropped.join(', ')}: Sinew has no channel map; written as the bare name (an HL7 path such as \${PID-3.1} can take its place)`,
      value,
    );
  if (whole.length)
    notes.approximate(
      tag,
      tag,
      `${whole.join(', ')} left out: the email destination attaches the message instead (attachment)`,
    );
  if (mapped.length && !dropped.length && !whole.length)
    notes[mapped.some((m) => m.includes('${date}')) ? 'approximate' : 'exact'](
      tag,
      tag,
      `${tag} with ${mapped.join(', ')}${mapped.some((m) => m.includes('${date}')) ? ' (YYYYMMDD, UTC)' : ''}`,
    );
  else if (!mapped.length && !dropped.length && !whole.length) notes.exact(tag, tag, `${tag} as written`);
  return out;
}

function smtpSender(props: XmlNode, notes: Notes, ctx: ConnectorContext, name: string): Settings {
  const host = configValue((text(props, 'smtpHost') ?? '').trim(), notes, 'smtpHost', 'SMTP server');
  const out: Settings = { type: 'email', host };
  const p = (text(props, 'smtpPort') ?? '').trim();
  if (p) out.port = port(configValue(p, notes, 'smtpPort', 'SMTP port'));
  notes.exact('smtpHost', 'SMTP server', `host: ${host}${p ? `, port: ${p}` : ''}`);
  const encryption = (text(props, 'encryption') ?? 'none').trim().toLowerCase();
  out.tls = encryption === 'ssl' ? 'tls' : encryption === 'tls' ? 'starttls' : 'none';
  notes.exact('encryption', `encryption ${encryption}`, `tls: ${String(out.tls)}`);
  if (flag(props, 'authentication')) {
    const user = (text(props, 'username') ?? '').trim();
    const env = envName(ctx.channelId, name, 'SMTP_PASSWORD');
    if (user) {
      out.auth = { user, password: `\${${env}}` };
      notes.approximate(
        'password',
        'SMTP password',
        `auth.password: \${${env}} (not copied from the export)`,
      );
    } else
      notes.notConverted('username', 'SMTP authentication', 'no user name in the export: set auth by hand');
  }
  const timeout = int(props, 'timeout');
  if (timeout !== undefined && timeout > 0) {
    out.timeout_ms = timeout;
    notes.exact('timeout', 'timeout', `timeout_ms: ${timeout}`);
  }
  const list = (tag: string) =>
    (text(props, tag) ?? '')
      .split(/[,;]/)
      .map((s) => s.trim())
      .filter(Boolean);
  out.from = (text(props, 'from') ?? '').trim();
  out.to = list('to');
  if (list('cc').length) out.cc = list('cc');
  notes.exact('to', 'addresses', 'from, to, cc as written');
  if (list('bcc').length)
    notes.notConverted('bcc', 'blind copies', `the email destination has no bcc: ${list('bcc').join(', ')}`);
  const replyTo = (text(props, 'replyTo') ?? '').trim();
  if (replyTo) notes.notConverted('replyTo', 'reply-to', 'the email destination sets no Reply-To header');
  const subject = emailTemplate(props, 'subject', notes);
  if (subject !== undefined) out.subject = subject;
  const body = emailTemplate(props, 'body', notes);
  // A body that held only the message keeps the destination's default text; the message is attached.
  if (body !== undefined && body.trim() !== '') out.body = body;
  if (flag(props, 'html'))
    notes.notConverted('html', 'HTML body', 'the email destination sends a plain-text body');
  const attachments =
    children(child(props, 'attachments'), 'com.mirth.connect.connectors.smtp.Attachment').length > 0 ||
    flag(props, 'isUseAttachmentsVariable') === true;
  const bodyHasMessage = [text(props, 'subject'), text(props, 'body')].some((v) =>
    [...WHOLE_MESSAGE].some((w) => (v ?? '').includes(`\${${w}}`)),
  );
  if (attachments)
    notes.approximate(
      'attachments',
      'attachments',
      "the message is attached (attachment: the default); Mirth's own attachment list is not converted",
    );
  else if (!bodyHasMessage) {
    out.attachment = false;
    notes.exact('attachments', 'no attachments', 'attachment: false');
  }
  if (mapEntries(child(props, 'headers')).length)
    notes.notConverted('headers', 'mail headers', 'extra mail headers are not converted');
  return out;
}

/** A destination's queue and retry settings as the Sinew destination's `retry`, `ordering` and `concurrency`. */
export function convertQueue(props: XmlNode, notes: Notes): Settings {
  const dcp = child(props, 'destinationConnectorProperties');
  const out: Settings = {};
  if (!dcp) return out;
  const at = 'properties/destinationConnectorProperties';
  const queue = flag(dcp, 'queueEnabled') === true;
  const retryCount = int(dcp, 'retryCount') ?? 0;
  const interval = int(dcp, 'retryIntervalMillis') ?? 10000;
  if (queue && retryCount === 0) {
    out.retry = {
      attempts: 1000,
      initial_delay_ms: interval,
      multiplier: 1,
      max_delay_ms: interval,
      jitter: 0,
    };
    notes.approximate(
      `${at}/queueEnabled`,
      `queue on, retry every ${interval} ms`,
      `Mirth retries a queued message without end; Sinew retries every ${interval} ms up to 1000 attempts, then dead-letters (replayable)`,
    );
  } else if (queue) {
    out.retry = {
      attempts: retryCount + 1,
      initial_delay_ms: interval,
      multiplier: 1,
      max_delay_ms: interval,
      jitter: 0,
    };
    notes.approximate(
      `${at}/retryCount`,
      `queue on, ${retryCount} retries every ${interval} ms`,
      `retry: ${retryCount + 1} attempts ${interval} ms apart; where Mirth keeps the message queued after its retries, Sinew dead-letters it (replayable)`,
    );
  } else {
    out.retry = {
      attempts: retryCount + 1,
      initial_delay_ms: interval,
      multiplier: 1,
      max_delay_ms: interval,
      jitter: 0,
    };
    notes.approximate(
      `${at}/queueEnabled`,
      `queue off, ${retryCount} retries`,
      `retry: ${retryCount + 1} attempt(s) ${interval} ms apart, then dead-lettered; Sinew always queues deliveries, so the sender is not held while they retry`,
    );
  }
  const threads = int(dcp, 'threadCount') ?? 1;
  const rotate = flag(dcp, 'rotate') === true;
  if (threads > 1) {
    out.concurrency = Math.min(threads, 256);
    out.ordering = 'none';
    notes.exact(
      `${at}/threadCount`,
      `${threads} queue threads`,
      `concurrency: ${out.concurrency}, ordering: none`,
    );
  } else if (rotate) {
    out.ordering = 'none';
    notes.approximate(
      `${at}/rotate`,
      'rotate',
      'ordering: none: a failing message does not hold back the others',
    );
  } else if (queue) {
    out.ordering = 'channel';
    notes.exact(
      `${at}/rotate`,
      'queue order',
      'ordering: channel (strict FIFO: a failing message holds back the ones behind it, as a Mirth queue without rotate)',
    );
  }
  const threadVar = (text(dcp, 'threadAssignmentVariable') ?? '').trim();
  if (threadVar)
    notes.notConverted(
      `${at}/threadAssignmentVariable`,
      'thread assignment variable',
      'write ordering: with the HL7 path the variable holds (FIFO per key)',
    );
  if (flag(dcp, 'sendFirst'))
    notes.approximate(`${at}/sendFirst`, 'send first', 'Sinew always queues first, then sends');
  if (flag(dcp, 'regenerateTemplate'))
    notes.notConverted(`${at}/regenerateTemplate`, 'regenerate template', 'a retry sends the same payload');
  return out;
}
