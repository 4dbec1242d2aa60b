import {
  configValue,
  type ConnectorContext,
  contentType,
  databaseConnection,
  fileLocation,
  tlsNote,
  envName,
  transmissionIsMllp,
  type Settings,
} from './connectors';
import type { Notes } from './report';
import { attr, child, children, flag, int, text, type XmlNode } from './xml';

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
    case 'Channel Reader': {
      const from = [...(ctx.feeders.get(ctx.channelId) ?? [])];
      if (from.length)
        n.exact(
          '',
          'Channel Reader',
          `source type channel, from: ${from.join(', ')} (their Channel Writers name this channel)`,
        );
      else
        n.notConverted(
          '',
          'Channel Reader',
          'source type channel: no imported channel writes to this one, so from (the channels allowed to hand messages on) is empty: name them by hand',
        );
      convertResponse(props, n, false);
      return { source: { type: 'channel', from } };
    }
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

function fileReader(props: XmlNode, notes: Notes, ctx: ConnectorContext): Settings | undefined {
  const source = fileLocation(props, notes, ctx, 'source', 'File Reader');
  if (!source) return undefined;
  const scheme = (text(props, 'scheme') ?? 'FILE').trim();
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
      source.after = 'delete';
      notes.exact('afterProcessingAction', 'after processing: delete', 'after: delete');
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
    const query = (text(props, 'select') ?? '').trim();
    source.query = query;
    if (/\$\{[^}]+\}/.test(query))
      notes.notConverted(
        'select',
        'query variables',
        'the database source runs its query without parameters: replace the ${…} references by hand',
        query,
      );
    else
      notes.approximate(
        'select',
        'query',
        'query: as written in Mirth, read as a subquery in (mark_column, key_column) order after the last row read',
      );
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
  source.key_column = 'id';
  notes.approximate(
    '',
    'high-water mark',
    'mark_column: id and key_column: id are a guess: the query must return them; mark_column must name a column that only grows (an increasing id, or updated_at), key_column one unique per row',
  );
  notes.approximate(
    '',
    'row format',
    'each row becomes a JSON object (content_type: json), where Mirth builds an XML <result> document: rewrite the transformer steps that read the XML',
  );
  if (flag(props, 'aggregateResults'))
    notes.approximate(
      'aggregateResults',
      'aggregate results',
      'one message per row; rows sharing a value can be gathered into one message with group_column (set by hand)',
    );
  const interval = pollInterval(props, notes);
  if (interval !== undefined) source.poll_interval_ms = interval;
  const retries = int(props, 'retryCount');
  if (retries !== undefined && retries > 0)
    notes.approximate('retryCount', 'connection retries', 'the source tries again at the next poll');
  convertResponse(props, notes, false);
  return source;
}
