import type { Notes } from './report';
import { attr, child, children, flag, int, mapEntries, strings, text, type XmlNode } from './xml';

/** A connector's settings as written in the Sinew channel file. */
export type Settings = Record<string, unknown>;

export interface ConnectorContext {
  /** The Sinew channel id, for environment variable names. */
  channelId: string;
  /** Mirth channel id → Sinew channel id, over every channel of the import. */
  channelIds: ReadonlyMap<string, string>;
  /** The connector's inbound data type (`HL7V2`, `JSON`, `XML`, …). */
  inboundDataType: string;
}

/** `ADT Router`, `password` → `ADT_ROUTER_PASSWORD`: an environment variable name. */
export function envName(...parts: string[]): string {
  return parts
    .join('_')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase()
    .replace(/^(\d)/, '_$1');
}

/** Mirth's message variables, filled per message; any other `${name}` is a configuration value. */
const MESSAGE_VARIABLES = /^(message\.|originalFilename$|date$|DATE$|UUID$|SYSTIME$|COUNT$)/;

/**
 * A Mirth setting that may hold configuration-map references (`${ehr_port}`) with each one
 * written as a Sinew environment reference (`${EHR_PORT}`).
 */
export function configValue(value: string, notes: Notes, path: string, what: string): string {
  const refs: string[] = [];
  const out = value.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
    if (MESSAGE_VARIABLES.test(name)) return whole;
    const env = envName(name);
    refs.push(`\${${name}} → \${${env}}`);
    return `\${${env}}`;
  });
  if (refs.length)
    notes.approximate(
      path,
      what,
      `Mirth configuration-map or channel-map reference written as an environment variable: ${refs.join(', ')}; set it in environments/*.yaml`,
    );
  return out;
}

/** A port: a number when it is one, else the text (an environment reference). */
function port(value: string): number | string {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value.trim();
}

function contentType(inbound: string): 'hl7v2' | 'json' | 'text' {
  if (inbound === 'HL7V2') return 'hl7v2';
  if (inbound === 'JSON') return 'json';
  return 'text';
}

function transmissionIsMllp(props: XmlNode): boolean {
  const mode = child(props, 'transmissionModeProperties');
  if (!mode) return true; // Mirth 3.0 exports without the element use MLLP
  return (attr(mode, 'class') ?? '').includes('mllpmode') || text(mode, 'pluginPointName') === 'MLLP';
}

/** A source's reply settings (`responseVariable`) as the channel's `ack`. */
export function convertResponse(props: XmlNode, notes: Notes, answers: boolean): Settings | undefined {
  const scp = child(props, 'sourceConnectorProperties');
  const response = (text(scp, 'responseVariable') ?? 'None').trim();
  const at = 'sourceConnectorProperties/responseVariable';
  const what = `response "${response}"`;
  if (!answers) {
    if (response !== 'None') notes.notConverted(at, what, 'this source does not answer its sender in Sinew');
    return undefined;
  }
  if (flag(scp, 'respondAfterProcessing') === false) {
    notes.exact(
      'sourceConnectorProperties/respondAfterProcessing',
      'source queue on',
      'ack.when: received (Mirth answers before processing when its source queue is on)',
    );
    return { when: 'received' };
  }
  switch (response) {
    case 'Auto-generate (Before processing)':
      notes.exact(at, what, 'ack.when: received (the ACK leaves once the message is stored)');
      return { when: 'received' };
    case 'Auto-generate (After source transformer)':
      notes.exact(at, what, 'ack.when: processed (the ACK waits for the filter and transformer steps)');
      return { when: 'processed' };
    case 'Auto-generate (Destinations completed)':
      notes.approximate(
        at,
        what,
        'ack.when: processed: the ACK waits for the pipeline, not for the deliveries (Sinew never makes the sender wait for a destination)',
      );
      return { when: 'processed' };
    case 'None':
      notes.approximate(
        at,
        what,
        'Sinew always answers: ack.when: received (an ACK once the message is stored)',
      );
      return { when: 'received' };
    default:
      notes.notConverted(
        at,
        what,
        'a destination response, the postprocessor or a response-map variable as the reply is not supported: ack.when: received is used',
      );
      return { when: 'received' };
  }
}

/** The polling settings every Mirth poller has, as `poll_interval_ms` when it is an interval. */
function pollInterval(props: XmlNode, notes: Notes): number | undefined {
  const poll = child(props, 'pollConnectorProperties');
  if (!poll) return undefined;
  const type = (text(poll, 'pollingType') ?? 'INTERVAL').trim();
  const at = 'pollConnectorProperties';
  if (type === 'INTERVAL') {
    const ms = int(poll, 'pollingFrequency') ?? 5000;
    notes.exact(`${at}/pollingFrequency`, 'polling interval', `poll_interval_ms: ${ms}`);
    return ms;
  }
  notes.notConverted(
    `${at}/pollingType`,
    `polling ${type}`,
    'time-of-day and cron polling are not a setting of this Sinew source: it polls at an interval (poll_interval_ms, default used)',
  );
  return undefined;
}

/** The Sinew source of a Mirth source connector, or undefined when there is none. */
export function convertSource(
  connector: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
): { source?: Settings; ack?: Settings } {
  const transport = (text(connector, 'transportName') ?? '').trim();
  const props = child(connector, 'properties') ?? {};
  const n = notes.under('properties');
  switch (transport) {
    case 'TCP Listener':
      return tcpListener(props, n, ctx);
    case 'HTTP Listener':
    case 'FHIR Listener':
      return httpListener(props, n, ctx, transport);
    case 'File Reader':
      return { source: fileReader(props, n, ctx) };
    case 'Database Reader':
      return { source: databaseReader(props, n, ctx) };
    case 'Channel Reader':
      n.exact(
        '',
        'Channel Reader',
        'source type channel: the channels whose channel destination names this one feed it',
      );
      convertResponse(props, n, false);
      return { source: { type: 'channel' } };
    default:
      notes.notConverted(
        'transportName',
        `${transport || 'unknown'} source`,
        'no Sinew source corresponds to this Mirth connector: the channel is written disabled, with its source left for a person',
      );
      return {};
  }
}

function tcpListener(
  props: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
): { source?: Settings; ack?: Settings } {
  const listener = child(props, 'listenerConnectorProperties');
  const host = configValue(
    (text(listener, 'host') ?? '0.0.0.0').trim(),
    notes,
    'listenerConnectorProperties/host',
    'listen host',
  );
  const p = configValue(
    (text(listener, 'port') ?? '6661').trim(),
    notes,
    'listenerConnectorProperties/port',
    'listen port',
  );
  const source: Settings = { type: 'mllp', listen: `${host}:${p}` };
  notes.exact('listenerConnectorProperties', 'TCP Listener address', `listen: ${host}:${p}`);
  if (!transmissionIsMllp(props)) {
    notes.notConverted(
      'transmissionModeProperties',
      'transmission mode',
      `${attr(child(props, 'transmissionModeProperties'), 'class') ?? 'non-MLLP'} framing: Sinew listens with MLLP only`,
    );
  } else notes.exact('transmissionModeProperties', 'MLLP framing', 'type: mllp');
  if (flag(props, 'serverMode') === false)
    notes.notConverted(
      'serverMode',
      'client mode',
      'the listener connects out to the sender in Mirth; Sinew MLLP sources accept connections',
    );
  const max = int(props, 'maxConnections');
  if (max !== undefined && max > 0) {
    source.max_connections = max;
    notes.exact('maxConnections', 'maximum connections', `max_connections: ${max}`);
  }
  const receiveTimeout = int(props, 'receiveTimeout');
  if (receiveTimeout !== undefined && receiveTimeout > 0) {
    source.idle_timeout_ms = receiveTimeout;
    notes.approximate(
      'receiveTimeout',
      'receive timeout',
      `idle_timeout_ms: ${receiveTimeout} (a silent connection is closed)`,
    );
  }
  const respondOn = int(props, 'respondOnNewConnection') ?? 0;
  if (respondOn !== 0)
    notes.notConverted(
      'respondOnNewConnection',
      'response on a new connection',
      'Sinew answers on the connection the message came on',
    );
  const charset = (text(props, 'charsetEncoding') ?? 'DEFAULT_ENCODING').trim();
  if (charset !== 'DEFAULT_ENCODING')
    notes.approximate('charsetEncoding', `charset ${charset}`, 'Sinew reads the character set from MSH-18');
  tlsNote(props, notes);
  if (ctx.inboundDataType !== 'HL7V2')
    notes.approximate('', `inbound data type ${ctx.inboundDataType}`, 'an MLLP source delivers HL7 v2');
  const ack = convertResponse(props, notes, true);
  return { source, ...(ack ? { ack } : {}) };
}

/** Mirth's open-source TCP and HTTP listeners have no TLS; a TLS plugin's settings are reported. */
function tlsNote(props: XmlNode, notes: Notes): void {
  const plugins = child(props, 'pluginProperties') ?? {};
  for (const tag of Object.keys(plugins)) {
    if (tag.startsWith('@_') || tag === '#text' || tag.includes('httpauth')) continue;
    notes.notConverted(
      `pluginProperties/${tag.split('.').pop()}`,
      'connector plugin settings',
      /ssl|tls/i.test(tag)
        ? 'TLS settings of a Mirth plugin: give the Sinew connector tls.key and tls.cert (or tls.ca) by hand'
        : 'settings of a Mirth plugin the importer does not know',
    );
  }
}

function httpListener(
  props: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
  transport: string,
): { source?: Settings; ack?: Settings } {
  const listener = child(props, 'listenerConnectorProperties');
  const host = configValue(
    (text(listener, 'host') ?? '0.0.0.0').trim(),
    notes,
    'listenerConnectorProperties/host',
    'listen host',
  );
  const p = configValue(
    (text(listener, 'port') ?? '80').trim(),
    notes,
    'listenerConnectorProperties/port',
    'listen port',
  );
  const source: Settings = { type: 'http', listen: `${host}:${p}` };
  notes.exact('listenerConnectorProperties', `${transport} address`, `listen: ${host}:${p}`);
  const contextPath = (text(props, 'contextPath') ?? '').trim();
  if (contextPath) {
    source.path = contextPath.startsWith('/') ? contextPath : `/${contextPath}`;
    notes.exact('contextPath', 'context path', `path: ${String(source.path)}`);
  }
  if (transport === 'FHIR Listener')
    notes.approximate(
      '',
      'FHIR Listener',
      'type http: Sinew takes FHIR resources POSTed as application/fhir+json; the FHIR Listener’s REST interactions (read, search, history) and its per-interaction routing are not converted',
    );
  const timeout = int(props, 'timeout');
  if (timeout !== undefined && timeout > 0) {
    source.request_timeout_ms = timeout;
    notes.approximate('timeout', 'timeout', `request_timeout_ms: ${timeout}`);
  }
  const plugins = child(props, 'pluginProperties') ?? {};
  for (const tag of Object.keys(plugins)) {
    if (!tag.includes('httpauth')) continue;
    if (tag.endsWith('NoneHttpAuthProperties')) {
      notes.exact('pluginProperties/NoneHttpAuthProperties', 'authentication', 'none');
      continue;
    }
    source.auth_token = `\${${envName(ctx.channelId, 'HTTP_TOKEN')}}`;
    notes.approximate(
      `pluginProperties/${tag.split('.').pop()}`,
      'HTTP authentication',
      `Mirth ${tag.split('.').pop()?.replace('HttpAuthProperties', '')} authentication becomes a bearer token (auth_token: \${${envName(ctx.channelId, 'HTTP_TOKEN')}}); senders must send Authorization: Bearer; credentials were not copied`,
    );
  }
  const status = (text(props, 'responseStatusCode') ?? '').trim();
  if (status)
    notes.notConverted(
      'responseStatusCode',
      'response status code',
      'Sinew chooses the HTTP status from the outcome (200, 4xx, 503)',
    );
  if (flag(props, 'xmlBody'))
    notes.notConverted('xmlBody', 'XML body', 'Sinew does not wrap the request in XML');
  if (
    children(child(props, 'staticResources'), 'com.mirth.connect.connectors.http.HttpStaticResource').length
  )
    notes.notConverted('staticResources', 'static resources', 'Sinew serves no static files from a source');
  tlsNote(props, notes);
  const ack = convertResponse(props, notes, true);
  return { source, ...(ack ? { ack } : {}) };
}

/** `sftp.lab.example:2222/outbound/results` → host, port, directory. */
function splitRemote(host: string): { host: string; port?: number | string; directory: string } {
  const slash = host.indexOf('/');
  const hostPart = slash < 0 ? host : host.slice(0, slash);
  const directory = slash < 0 ? '/' : host.slice(slash);
  const m = /^(.*):(\d+|\$\{[^}]+\})$/.exec(hostPart);
  return m ? { host: m[1] ?? '', port: port(m[2] ?? ''), directory } : { host: hostPart, directory };
}

function sftpAuth(
  props: XmlNode,
  settings: Settings,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
): void {
  const scheme = child(props, 'schemeProperties');
  settings.username = (text(props, 'username') ?? '').trim();
  if (flag(scheme, 'keyAuth')) {
    const env = envName(ctx.channelId, name, 'SFTP_PRIVATE_KEY');
    settings.private_key = `\${${env}}`;
    notes.approximate(
      'schemeProperties/keyFile',
      'private key',
      `private_key: \${${env}}: give it the key Mirth read from ${(text(scheme, 'keyFile') ?? '').trim() || 'its key file'} (as \${file:PATH} in environments/*.yaml, or the PEM text)`,
    );
  }
  if (flag(scheme, 'passwordAuth') !== false && !flag(scheme, 'keyAuth')) {
    settings.password = `\${${envName(ctx.channelId, name, 'SFTP_PASSWORD')}}`;
    notes.approximate(
      'password',
      'SFTP password',
      `password: \${${envName(ctx.channelId, name, 'SFTP_PASSWORD')}} (not copied from the export)`,
    );
  }
  settings.host_key = `\${${envName(ctx.channelId, name, 'SFTP_HOST_KEY')}}`;
  const checking = (text(scheme, 'hostKeyChecking') ?? 'ask').trim();
  notes.approximate(
    'schemeProperties/hostKeyChecking',
    `host key checking "${checking}"`,
    `Sinew pins the server's host key: host_key: \${${envName(ctx.channelId, name, 'SFTP_HOST_KEY')}} must be set (e.g. from ssh-keyscan)`,
  );
}

function fileReader(props: XmlNode, notes: Notes, ctx: ConnectorContext): Settings | undefined {
  const scheme = (text(props, 'scheme') ?? 'FILE').trim();
  const host = configValue((text(props, 'host') ?? '').trim(), notes, 'host', 'directory');
  let source: Settings;
  if (scheme === 'FILE') {
    source = { type: 'file', directory: host };
    notes.exact('host', 'directory', `directory: ${host}`);
  } else if (scheme === 'SFTP') {
    const remote = splitRemote(host);
    source = {
      type: 'sftp',
      host: remote.host,
      ...(remote.port !== undefined ? { port: remote.port } : {}),
      directory: remote.directory,
    };
    notes.exact(
      'host',
      'SFTP server and directory',
      `type sftp, host ${remote.host}, directory ${remote.directory}`,
    );
    sftpAuth(props, source, notes, ctx, 'source');
  } else {
    notes.notConverted(
      'scheme',
      `File Reader over ${scheme}`,
      'only local folders and SFTP have a Sinew source',
    );
    return undefined;
  }
  const filter = (text(props, 'fileFilter') ?? '*').trim();
  if (flag(props, 'regex')) {
    notes.notConverted(
      'fileFilter',
      'file name regular expression',
      `Sinew takes a glob; the regular expression ${JSON.stringify(filter)} must be rewritten as one (default * used)`,
    );
  } else if (filter) {
    source.pattern = filter;
    notes.exact('fileFilter', 'file name filter', `pattern: ${filter}`);
  }
  const interval = pollInterval(props, notes);
  if (interval !== undefined) source.poll_interval_ms = interval;
  if (flag(props, 'checkFileAge')) {
    const age = int(props, 'fileAge') ?? 1000;
    source.min_age_ms = age;
    notes.exact('fileAge', 'minimum file age', `min_age_ms: ${age}`);
  }
  if (flag(props, 'directoryRecursion'))
    notes.notConverted('directoryRecursion', 'sub-folders', 'Sinew reads one folder, not its sub-folders');
  if (flag(props, 'ignoreDot') === false)
    notes.approximate('ignoreDot', 'dot files', 'Sinew never picks up names starting with a dot');
  const after = (text(props, 'afterProcessingAction') ?? 'NONE').trim();
  const moveTo = (text(props, 'moveToDirectory') ?? '').trim();
  if (after === 'MOVE' && moveTo) {
    source.done_directory = configValue(moveTo, notes, 'moveToDirectory', 'done folder');
    notes.exact('afterProcessingAction', 'after processing: move', `done_directory: ${moveTo}`);
    const name = (text(props, 'moveToFileName') ?? '').trim();
    if (name && name !== '${originalFilename}')
      notes.notConverted(
        'moveToFileName',
        'moved file name',
        `Sinew keeps the original name; ${JSON.stringify(name)} is not applied`,
      );
  } else if (after === 'DELETE') {
    if (scheme === 'SFTP') {
      source.delete_after = true;
      notes.exact('afterProcessingAction', 'after processing: delete', 'delete_after: true');
    } else
      notes.approximate(
        'afterProcessingAction',
        'after processing: delete',
        'the file source moves processed files to done_directory instead of deleting them',
      );
  } else {
    notes.approximate(
      'afterProcessingAction',
      `after processing: ${after}`,
      'the Sinew source moves processed files to its done folder (default <directory>/done), so a file is never read twice',
    );
  }
  const errorTo = (text(props, 'errorMoveToDirectory') ?? '').trim();
  if (errorTo) {
    source.error_directory = configValue(errorTo, notes, 'errorMoveToDirectory', 'error folder');
    notes.exact('errorMoveToDirectory', 'error folder', `error_directory: ${errorTo}`);
  }
  const max = int(props, 'fileSizeMaximum');
  if (max !== undefined && !flag(props, 'ignoreFileSizeMaximum')) {
    source.max_file_bytes = max;
    notes.exact('fileSizeMaximum', 'largest file', `max_file_bytes: ${max}`);
  }
  const sortBy = (text(props, 'sortBy') ?? 'date').trim();
  if (sortBy !== 'date')
    notes.approximate('sortBy', `sort by ${sortBy}`, 'Sinew picks files up in the order it finds them');
  source.content_type = contentType(ctx.inboundDataType);
  notes[ctx.inboundDataType === 'HL7V2' || ctx.inboundDataType === 'JSON' ? 'exact' : 'approximate'](
    '',
    `inbound data type ${ctx.inboundDataType}`,
    `content_type: ${String(source.content_type)}`,
  );
  if (flag(child(props, 'sourceConnectorProperties'), 'processBatch')) {
    source.batch = true;
    notes.exact(
      'sourceConnectorProperties/processBatch',
      'batch processing',
      'batch: true (one message per MSH, FHS/BHS batches split)',
    );
  }
  const charset = (text(props, 'charsetEncoding') ?? 'DEFAULT_ENCODING').trim();
  if (charset !== 'DEFAULT_ENCODING')
    notes.approximate('charsetEncoding', `charset ${charset}`, 'Sinew reads the character set from MSH-18');
  convertResponse(props, notes, false);
  return source;
}

/** `jdbc:postgresql://h:5432/db` → `postgres://h:5432/db` and the Sinew driver name. */
export function jdbcUrl(url: string): { driver?: string; url: string } {
  const m = /^jdbc:(postgresql|mysql|mariadb|sqlite):(.*)$/.exec(url.trim());
  if (!m) return { url: url.trim() };
  const kind = m[1] ?? '';
  const rest = m[2] ?? '';
  if (kind === 'sqlite') return { driver: 'sqlite', url: rest };
  return {
    driver: kind === 'postgresql' ? 'postgres' : 'mysql',
    url: `${kind === 'postgresql' ? 'postgres' : 'mysql'}:${rest}`,
  };
}

function databaseConnection(
  props: XmlNode,
  settings: Settings,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
): boolean {
  const raw = configValue((text(props, 'url') ?? '').trim(), notes, 'url', 'JDBC URL');
  const { driver, url } = jdbcUrl(raw);
  if (!driver) {
    notes.notConverted(
      'url',
      'database',
      `${(text(props, 'driver') ?? '').trim() || 'this driver'}: Sinew connects to PostgreSQL, MySQL/MariaDB and SQLite only`,
    );
    return false;
  }
  settings.driver = driver;
  settings.url = url;
  notes.exact('url', 'database URL', `driver: ${driver}, url: ${url}`);
  const user = (text(props, 'username') ?? '').trim();
  if (user) settings.username = user;
  settings.password = `\${${envName(ctx.channelId, name, 'DB_PASSWORD')}}`;
  notes.approximate(
    'password',
    'database password',
    `password: \${${envName(ctx.channelId, name, 'DB_PASSWORD')}} (not copied from the export)`,
  );
  return true;
}

function databaseReader(props: XmlNode, notes: Notes, ctx: ConnectorContext): Settings | undefined {
  const source: Settings = { type: 'database' };
  if (!databaseConnection(props, source, notes, ctx, 'source')) return undefined;
  if (flag(props, 'useScript')) {
    notes.notConverted(
      'select',
      'JavaScript query',
      'the rows come from a script: write the query by hand',
      text(props, 'select'),
    );
  } else {
    source.query = (text(props, 'select') ?? '').trim();
    notes.exact('select', 'query', 'query: as written in Mirth');
  }
  const update = (text(props, 'update') ?? '').trim();
  if (update)
    notes.approximate(
      'update',
      'update statement',
      'Sinew tracks what it read with a high-water mark (mark_column: the id or updated_at column the query orders by), not by updating the rows; choose mark_column and drop the "not yet exported" condition if it only served the update',
      update,
    );
  source.mark_column = 'id';
  notes.approximate(
    '',
    'high-water mark',
    'mark_column: id is a guess: check it names a column that only grows',
  );
  if (flag(props, 'aggregateResults'))
    notes.approximate(
      'aggregateResults',
      'aggregate results',
      'one message per row (group rows with a key by hand)',
    );
  const interval = pollInterval(props, notes);
  if (interval !== undefined) source.poll_interval_ms = interval;
  const retries = int(props, 'retryCount');
  if (retries !== undefined && retries > 0)
    notes.approximate('retryCount', 'connection retries', 'the source tries again at the next poll');
  convertResponse(props, notes, false);
  return source;
}

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
  const scheme = (text(props, 'scheme') ?? 'FILE').trim();
  const host = configValue((text(props, 'host') ?? '').trim(), notes, 'host', 'directory');
  let out: Settings;
  if (scheme === 'FILE') {
    out = { type: 'file', directory: host };
    notes.exact('host', 'directory', `directory: ${host}`);
  } else if (scheme === 'SFTP') {
    const remote = splitRemote(host);
    out = {
      type: 'sftp',
      host: remote.host,
      ...(remote.port !== undefined ? { port: remote.port } : {}),
      directory: remote.directory,
    };
    notes.exact(
      'host',
      'SFTP server and directory',
      `type sftp, host ${remote.host}, directory ${remote.directory}`,
    );
    sftpAuth(props, out, notes, ctx, name);
  } else {
    notes.notConverted(
      'scheme',
      `File Writer over ${scheme}`,
      'only local folders and SFTP have a Sinew destination',
    );
    return undefined;
  }
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
    notes.notConverted(
      'query',
      'JavaScript statement',
      'the statement is built by a script: write it as a parameterised statement by hand',
      text(props, 'query'),
    );
    return out;
  }
  const query = (text(props, 'query') ?? '').trim();
  const params: string[] = [];
  const statement = query.replace(/\$\{([^}]+)\}/g, (_w, v: string) => {
    params.push(v);
    return `:${v.replace(/\W/g, '_')}`;
  });
  out.statement = statement;
  if (params.length)
    notes.approximate(
      'query',
      'statement',
      `statement with named parameters ${params.map((p) => `:${p}`).join(', ')} in place of Mirth's \${…}: each must be a field of the JSON the destination's transformer builds`,
      query,
    );
  else notes.exact('query', 'statement', 'statement: as written in Mirth');
  return out;
}

function channelWriter(props: XmlNode, notes: Notes, ctx: ConnectorContext): Settings | undefined {
  const id = (text(props, 'channelId') ?? '').trim();
  if (!id || id === 'none') {
    notes.notConverted('channelId', 'target channel', 'no channel selected in Mirth');
    return undefined;
  }
  const target = ctx.channelIds.get(id);
  const out: Settings = { type: 'channel', channel: target ?? `mirth-${id}` };
  if (target) notes.exact('channelId', 'target channel', `channel: ${target}`);
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

function smtpSender(props: XmlNode, notes: Notes, ctx: ConnectorContext, name: string): Settings {
  const host = configValue((text(props, 'smtpHost') ?? '').trim(), notes, 'smtpHost', 'SMTP server');
  const out: Settings = { type: 'email', host };
  const p = (text(props, 'smtpPort') ?? '').trim();
  if (p) out.port = port(configValue(p, notes, 'smtpPort', 'SMTP port'));
  notes.exact('smtpHost', 'SMTP server', `host: ${host}${p ? `, port: ${p}` : ''}`);
  const encryption = (text(props, 'encryption') ?? 'none').trim().toLowerCase();
  out.secure = encryption === 'ssl' ? 'tls' : encryption === 'tls' ? 'starttls' : 'none';
  notes.exact('encryption', `encryption ${encryption}`, `secure: ${String(out.secure)}`);
  if (flag(props, 'authentication')) {
    out.username = (text(props, 'username') ?? '').trim();
    out.password = `\${${envName(ctx.channelId, name, 'SMTP_PASSWORD')}}`;
    notes.approximate(
      'password',
      'SMTP password',
      `password: \${${envName(ctx.channelId, name, 'SMTP_PASSWORD')}} (not copied from the export)`,
    );
  }
  const list = (tag: string) =>
    (text(props, tag) ?? '')
      .split(/[,;]/)
      .map((s) => s.trim())
      .filter(Boolean);
  out.from = (text(props, 'from') ?? '').trim();
  out.to = list('to');
  for (const tag of ['cc', 'bcc'] as const) if (list(tag).length) out[tag] = list(tag);
  const replyTo = (text(props, 'replyTo') ?? '').trim();
  if (replyTo) out.reply_to = replyTo;
  notes.exact('to', 'addresses', 'from, to, cc, bcc as written');
  const templ = (tag: string, key: string) => {
    const v = text(props, tag) ?? '';
    if (!v) return;
    out[key] = v;
    if (/\$\{[^}]+\}/.test(v))
      notes.approximate(
        tag,
        key,
        `${key} kept as written; its Mirth variables (\${…}) must be rewritten as the email destination's template variables`,
      );
    else notes.exact(tag, key, `${key} as written`);
  };
  templ('subject', 'subject');
  templ('body', 'body');
  if (flag(props, 'html')) {
    out.html = true;
    notes.exact('html', 'HTML body', 'html: true');
  }
  if (
    children(child(props, 'attachments'), 'com.mirth.connect.connectors.smtp.Attachment').length ||
    flag(props, 'isUseAttachmentsVariable')
  )
    notes.notConverted('attachments', 'attachments', 'attachments are not converted: add them by hand');
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
