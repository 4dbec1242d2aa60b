import type { Settings } from './connectors';
import { convertDestinationConnector, convertQueue } from './destinations';
import { convertSource } from './sources';
import { convertFilter, type Condition } from './filter';
import { isDefaultScript } from './javascript';
import { Notes, type ChannelReport, type ImportReport, type OtherReport } from './report';
import { convertSteps, type ConvertedSteps } from './steps';
import {
  attr,
  child,
  children,
  flag,
  mapEntries,
  MirthImportError,
  parseXml,
  text,
  type XmlNode,
} from './xml';

/** One export file as read: its name (for messages and the report) and its text. */
export interface MirthFile {
  path: string;
  text: string;
}

/** A transformer file written beside the channels. */
export interface TransformerOutput {
  name: string;
  spec: Record<string, unknown>;
}

/** One converted channel: its YAML object, the transformer files it comes with, its report. */
export interface ChannelOutput {
  id: string;
  channel: Record<string, unknown>;
  transformers: TransformerOutput[];
  report: ChannelReport;
}

export interface ImportResult {
  channels: ChannelOutput[];
  report: ImportReport;
}

/** `ADT Router (v2)` → `adt-router-v2`. */
export function slug(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return s.slice(0, 56).replace(/-$/, '') || 'channel';
}

function unique(base: string, taken: Set<string>): string {
  let id = base;
  for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
  taken.add(id);
  return id;
}

interface FoundChannel {
  file: string;
  node: XmlNode;
}

interface FoundFile {
  channels: FoundChannel[];
  other: OtherReport[];
}

/** The channels and other elements of one export file. */
function readFile(file: MirthFile): FoundFile {
  const root = parseXml(file.path, file.text);
  const tags = Object.keys(root).filter((k) => !k.startsWith('?'));
  const tag = tags[0];
  if (tags.length !== 1 || tag === undefined)
    throw new MirthImportError(file.path, 'not a Mirth export: expected one root element');
  const node = child(root, tag) ?? {};
  switch (tag) {
    case 'channel':
      if (!child(node, 'sourceConnector'))
        throw new MirthImportError(
          file.path,
          'a <channel> without <sourceConnector>: not a complete channel export',
        );
      return { channels: [{ file: file.path, node }], other: [] };
    case 'serverConfiguration':
      return serverConfiguration(file.path, node);
    case 'codeTemplateLibrary':
    case 'codeTemplate':
    case 'list': {
      const notes = new Notes();
      codeTemplates(root, notes, '');
      if (notes.items.length === 0)
        throw new MirthImportError(file.path, `a <${tag}> holding nothing the importer knows`);
      return { channels: [], other: [{ file: file.path, title: 'Code templates', items: notes.items }] };
    }
    default:
      throw new MirthImportError(
        file.path,
        `not a Mirth channel export or server configuration backup (root element <${tag}>; expected <channel>, <serverConfiguration> or <codeTemplateLibrary>)`,
      );
  }
}

/** Code templates (in a backup, a library export or a single template) into the report. */
function codeTemplates(node: XmlNode, notes: Notes, at: string): void {
  const visit = (n: XmlNode, path: string) => {
    for (const lib of children(n, 'codeTemplateLibrary')) {
      const name = text(lib, 'name') ?? '';
      visit(child(lib, 'codeTemplates') ?? {}, `${path}codeTemplateLibrary[${name}]/codeTemplates/`);
    }
    for (const libs of children(n, 'codeTemplateLibraries')) visit(libs, `${path}codeTemplateLibraries/`);
    for (const t of children(n, 'codeTemplate')) {
      const name = text(t, 'name') ?? '';
      const props = child(t, 'properties');
      const code = text(props, 'code') ?? text(t, 'code') ?? '';
      const type = text(props, 'type') ?? text(t, 'type') ?? 'FUNCTION';
      notes.notConverted(
        `${path}codeTemplate[${name}]`,
        `code template "${name}" (${type})`,
        'JavaScript shared by channels: kept as written; a function a channel needs becomes a Sinew user function, by hand',
        code,
      );
    }
    for (const l of children(n, 'list')) visit(l, path);
  };
  visit(node, at);
}

function serverConfiguration(file: string, node: XmlNode): FoundFile {
  const channels = children(child(node, 'channels'), 'channel').map((c) => ({ file, node: c }));
  const notes = new Notes('serverConfiguration');
  codeTemplates(node, notes, '');
  for (const { key, value } of mapEntries(child(node, 'globalScripts'))) {
    const script = text(value, 'string') ?? '';
    if (isDefaultScript(script))
      notes.exact(`globalScripts/${key}`, `global ${key} script`, 'the default script: nothing to do');
    else
      notes.notConverted(
        `globalScripts/${key}`,
        `global ${key} script`,
        'JavaScript run for every channel: kept as written; Sinew has no global scripts',
        script,
      );
  }
  const config = mapEntries(child(node, 'configurationMap'));
  for (const { key } of config) {
    notes.approximate(
      `configurationMap/${key}`,
      `configuration value "${key}"`,
      `channels read it as \${${key.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}}: give it in environments/*.yaml (values were not copied: they may be secrets)`,
    );
  }
  for (const a of children(child(node, 'alerts'), 'alertModel'))
    notes.notConverted(
      `alerts/alertModel[${text(a, 'name') ?? ''}]`,
      `alert "${text(a, 'name') ?? ''}"`,
      'alerts are not imported: configure Sinew alerts (webhooks, metrics) by hand',
    );
  for (const g of children(child(node, 'channelGroups'), 'channelGroup'))
    notes.approximate(
      `channelGroups/channelGroup[${text(g, 'name') ?? ''}]`,
      `channel group "${text(g, 'name') ?? ''}"`,
      'Sinew has no channel groups: a folder of channel files plays that part',
    );
  for (const t of children(child(node, 'channelTags'), 'channelTag'))
    notes.notConverted(
      `channelTags/channelTag[${text(t, 'name') ?? ''}]`,
      `channel tag "${text(t, 'name') ?? ''}"`,
      'Sinew has no channel tags',
    );
  for (const r of children(child(node, 'resourceProperties'), 'list'))
    for (const [tag, v] of Object.entries(r))
      if (!tag.startsWith('@_'))
        for (const res of Array.isArray(v) ? v : [v])
          if (typeof res === 'object' && !Array.isArray(res))
            notes.notConverted(
              `resourceProperties/${text(res, 'name') ?? tag}`,
              `resource "${text(res, 'name') ?? tag}"`,
              'Java libraries for JavaScript: no Sinew equivalent',
            );
  for (const d of children(child(node, 'channelDependencies'), 'channelDependency'))
    notes.approximate(
      'channelDependencies/channelDependency',
      `dependency ${text(d, 'dependentId') ?? ''} → ${text(d, 'dependencyId') ?? ''}`,
      'Sinew deploys all channels of a folder together; no start order is kept',
    );
  return {
    channels,
    other: notes.items.length ? [{ file, title: 'Server configuration', items: notes.items }] : [],
  };
}

function inboundType(connector: XmlNode | undefined): string {
  return (text(child(connector, 'transformer'), 'inboundDataType') ?? 'HL7V2').trim();
}

function outboundType(connector: XmlNode | undefined): string {
  return (text(child(connector, 'transformer'), 'outboundDataType') ?? 'HL7V2').trim();
}

/** The transformer files for one connector's converted steps (named values and message fields). */
function stepTransformers(
  steps: ConvertedSteps,
  base: string,
  label: string,
  outboundHl7: boolean,
  notes: Notes,
): TransformerOutput[] {
  const out: TransformerOutput[] = [];
  const rule = (v: ConvertedSteps['variables'][number]['value'], to: string): Record<string, string> =>
    'from' in v ? { from: v.from, to } : { const: v.const, to };
  if (steps.variables.length) {
    const name = `${base}-values`;
    out.push({
      name,
      spec: {
        transformer: name,
        description: `The values the Mirth ${label} computed (Mapper steps and channelMap.put), as one JSON object.`,
        input: 'hl7v2',
        output: 'json',
        resources: [{ name: 'values', rules: steps.variables.map((v) => rule(v.value, v.name)) }],
      },
    });
    notes.approximate(
      '',
      `${label}: named values`,
      `rules in transformers/${name}.yaml (HL7 v2 → a JSON object of the values): a destination that sent them in Mirth can use it as its transformer`,
    );
  }
  if (steps.fields.length) {
    const name = `${base}-message`;
    const segments = new Map<string, Array<Record<string, string>>>();
    for (const f of steps.fields) {
      const seg = /^([A-Z][A-Z0-9]{2})/.exec(f.target)?.[1] ?? 'MSH';
      const list = segments.get(seg) ?? [];
      list.push(rule(f.value, f.target));
      segments.set(seg, list);
    }
    out.push({
      name,
      spec: {
        transformer: name,
        description: `The fields the Mirth ${label} set on the outbound message (Message Builder steps, tmp[…] = …).`,
        input: 'hl7v2',
        output: outboundHl7 ? 'hl7v2' : 'json',
        resources: [...segments].map(([seg, rules]) => ({
          name: seg.toLowerCase(),
          ...(outboundHl7 ? { segment: seg } : {}),
          rules,
        })),
      },
    });
    notes.approximate(
      '',
      `${label}: outbound message fields`,
      `rules in transformers/${name}.yaml, not used by the channel: Mirth edits a copy of the message, a Sinew HL7 v2 transformer builds only the segments it names; check it builds the whole message before adding it as a map step`,
    );
  }
  return out;
}

function keyName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();
}

function convertChannel(
  found: FoundChannel,
  sinewId: string,
  ids: ReadonlyMap<string, string>,
  feeders: ReadonlyMap<string, readonly string[]>,
  channelReaders: ReadonlySet<string>,
): ChannelOutput {
  const ch = found.node;
  const name = text(ch, 'name') ?? sinewId;
  const notes = new Notes();
  const channel: Record<string, unknown> = { id: sinewId };
  const description = (text(ch, 'description') ?? '').trim();
  channel.description = description
    ? `${description} (imported from Mirth channel "${name}")`
    : `Imported from Mirth channel "${name}"`;
  const transformers: TransformerOutput[] = [];

  const metadata = child(child(ch, 'exportData'), 'metadata');
  const enabled = flag(ch, 'enabled') ?? flag(metadata, 'enabled');
  const initial = text(child(ch, 'properties'), 'initialState');
  if (enabled === false || initial === 'STOPPED' || initial === 'PAUSED') {
    channel.enabled = false;
    notes.approximate(
      enabled === false ? 'enabled' : 'properties/initialState',
      'channel state',
      'enabled: false (checked, not deployed)',
    );
  }

  // Source
  const sourceNode = child(ch, 'sourceConnector') ?? {};
  const inbound = inboundType(sourceNode);
  const inboundHl7 = inbound === 'HL7V2';
  const sn = notes.under('sourceConnector');
  const { source, ack } = convertSource(sourceNode, sn, {
    channelId: sinewId,
    channelIds: ids,
    feeders,
    channelReaders,
    inboundDataType: inbound,
  });
  if (source) channel.source = source;
  else {
    channel.enabled = false;
    channel.source = { type: 'unsupported' };
  }
  if (ack) channel.ack = ack;

  // Source filter and transformer
  const pipeline: Array<Record<string, unknown>> = [];
  const filter = convertFilter(child(sourceNode, 'filter'), sn.under('filter'), inboundHl7);
  if (filter.condition) pipeline.push({ filter: filter.condition });
  if (!filter.converted)
    sn.notConverted(
      'filter',
      'source filter',
      'left out of the channel (every message passes) until a person writes it as a filter step',
    );
  const steps = convertSteps(child(sourceNode, 'transformer'), sn.under('transformer'), inboundHl7);
  const keys: Record<string, string> = {};
  for (const v of steps.variables)
    if ('from' in v.value) {
      keys[keyName(v.name)] = v.value.from;
    }
  transformers.push(
    ...stepTransformers(
      steps,
      sinewId,
      'source transformer',
      outboundType(sourceNode) === 'HL7V2',
      sn.under('transformer'),
    ),
  );
  if (steps.variables.some((v) => 'from' in v.value))
    sn.approximate(
      'transformer',
      'named values',
      `business keys (keys: ${Object.keys(keys).join(', ')}): Sinew indexes them with each message for search; it has no channel map, so later \${…} references to them are not filled`,
    );

  // Destinations
  const destinations: Array<Record<string, unknown>> = [];
  const taken = new Set<string>();
  const connectors = children(child(ch, 'destinationConnectors'), 'connector');
  connectors.forEach((dest, i) => {
    const dname = text(dest, 'name') ?? `destination ${i + 1}`;
    const dn = notes.under(`destinationConnectors/connector[${i}: ${dname}]`);
    if (flag(dest, 'enabled') === false) {
      dn.approximate('enabled', `destination "${dname}"`, 'disabled in Mirth: left out of the Sinew channel');
      return;
    }
    const destId = unique(slug(dname), taken);
    const settings = convertDestinationConnector(
      dest,
      dn,
      { channelId: sinewId, channelIds: ids, feeders, channelReaders, inboundDataType: inboundType(dest) },
      destId,
    );
    const dfilter = convertFilter(child(dest, 'filter'), dn.under('filter'), inboundHl7);
    const dsteps = convertSteps(child(dest, 'transformer'), dn.under('transformer'), inboundHl7);
    const dtrans = stepTransformers(
      dsteps,
      `${sinewId}-${destId}`,
      `destination "${dname}" transformer`,
      outboundType(dest) === 'HL7V2',
      dn.under('transformer'),
    );
    transformers.push(...dtrans);
    for (const v of dsteps.variables)
      if ('from' in v.value && !(keyName(v.name) in keys)) keys[keyName(v.name)] = v.value.from;
    if (dsteps.variables.some((v) => 'from' in v.value))
      dn.approximate(
        'transformer',
        'named values',
        'also written as business keys of the channel (read from the message as received)',
      );
    const resp = child(dest, 'responseTransformer');
    const respSteps = child(resp, 'elements');
    if (respSteps && Object.keys(respSteps).some((k) => !k.startsWith('@_') && k !== '#text'))
      dn.notConverted(
        'responseTransformer',
        'response transformer',
        'Sinew checks responses by their codes; response transformer steps are not converted',
      );
    if (flag(dest, 'waitForPrevious') && i > 0)
      dn.approximate(
        'waitForPrevious',
        'wait for previous destination',
        'Sinew sends to every destination independently (in parallel)',
      );
    if (!settings) return;
    const entry: Record<string, unknown> = { name: destId, ...settings };
    if (destId !== dname) dn.exact('name', 'name', `name: ${destId}`);
    if (settings.type === 'database') {
      // The statement's parameters are the values the Mirth transformer computed: the
      // destination takes them as the JSON its values transformer builds.
      const values =
        dtrans.find((t) => t.name.endsWith('-values')) ??
        transformers.find((t) => t.name === `${sinewId}-values`);
      if (values) {
        entry.transformer = values.name;
        dn.approximate(
          'transformer',
          'statement parameters',
          `transformer: ${values.name}: the statement's parameters are read from the JSON object of the values the Mirth steps computed`,
        );
      } else
        dn.notConverted(
          'transformer',
          'statement parameters',
          'no Mapper steps give the statement its values: the database destination takes JSON, so give it a transformer that builds the fields its params name',
        );
    }
    Object.assign(entry, convertQueue(child(dest, 'properties') ?? {}, dn));
    if (dfilter.condition) entry.filter = dfilter.condition as Condition;
    if (!dfilter.converted)
      dn.notConverted(
        'filter',
        'destination filter',
        'left out (every message reaches this destination) until a person writes it',
      );
    destinations.push(entry);
  });
  if (Object.keys(keys).length) channel.keys = keys;
  if (pipeline.length) channel.pipeline = pipeline;
  channel.destinations = destinations;
  if (destinations.length === 0)
    notes.notConverted(
      'destinationConnectors',
      'destinations',
      'no destination converted: the channel needs at least one',
    );

  // Channel scripts and properties
  for (const script of [
    'preprocessingScript',
    'postprocessingScript',
    'deployScript',
    'undeployScript',
  ] as const) {
    const body = text(ch, script);
    if (isDefaultScript(body)) {
      if (body !== undefined) notes.exact(script, script, 'the default script (or empty): nothing to do');
    } else
      notes.notConverted(script, script, 'JavaScript: kept as written; Sinew has no channel scripts', body);
  }
  const props = child(ch, 'properties');
  const storage = (text(props, 'messageStorageMode') ?? '').trim();
  if (storage === 'DEVELOPMENT' || storage === 'PRODUCTION')
    notes.exact(
      'properties/messageStorageMode',
      `storage ${storage}`,
      'Sinew keeps the raw message, the transformed one, each delivery and each response',
    );
  else if (storage)
    notes.approximate(
      'properties/messageStorageMode',
      `storage ${storage}`,
      'Sinew always keeps the message content (it is what makes replay possible); limit how long with the engine’s retention',
    );
  if (flag(props, 'encryptData'))
    notes.approximate(
      'properties/encryptData',
      'encrypt data',
      'Sinew encrypts content at rest for the whole engine (not per channel): turn it on in the engine settings',
    );
  if (flag(props, 'removeContentOnCompletion'))
    notes.approximate(
      'properties/removeContentOnCompletion',
      'remove content on completion',
      'content is pruned by the engine’s retention, not on completion',
    );
  const attachment = (text(child(props, 'attachmentProperties'), 'type') ?? 'None').trim();
  if (attachment !== 'None')
    notes.notConverted(
      'properties/attachmentProperties',
      `attachment handler ${attachment}`,
      'Sinew does not extract attachments',
    );
  const meta = child(props, 'metaDataColumns');
  for (const col of children(meta, 'metaDataColumn')) {
    const mapping = text(col, 'mappingName') ?? '';
    notes.approximate(
      `properties/metaDataColumns/${text(col, 'name') ?? ''}`,
      'custom metadata column',
      `Sinew's business keys (keys:) play this part; "${mapping}" names a Mirth map variable`,
    );
  }
  const pruning = child(metadata, 'pruningSettings');
  for (const key of ['pruneMetaDataDays', 'pruneContentDays'] as const) {
    const days = text(pruning, key);
    if (days)
      notes.approximate(
        `exportData/metadata/pruningSettings/${key}`,
        `${key} ${days}`,
        'pruning is the engine’s retention in Sinew (for every channel), not a channel setting',
      );
  }
  for (const holder of [ch, child(ch, 'exportData') ?? {}]) {
    const libs = child(holder, 'codeTemplateLibraries');
    if (libs) codeTemplates({ codeTemplateLibraries: libs }, notes, holder === ch ? '' : 'exportData/');
  }

  const version = attr(ch, 'version') ?? '';
  return {
    id: sinewId,
    channel,
    transformers,
    report: {
      file: found.file,
      mirthName: name,
      mirthId: text(ch, 'id') ?? '',
      mirthVersion: version,
      sinewId,
      written: [],
      items: notes.items,
    },
  };
}

/** Channels of one import listening on one address: reported on each, as neither can move alone. */
function sharedAddresses(channels: readonly ChannelOutput[]): void {
  const byAddress = new Map<string, ChannelOutput[]>();
  for (const c of channels) {
    const source = c.channel.source as Settings;
    if (typeof source.listen !== 'string' || c.channel.enabled === false) continue;
    const list = byAddress.get(source.listen) ?? [];
    list.push(c);
    byAddress.set(source.listen, list);
  }
  for (const [address, list] of byAddress) {
    if (list.length < 2) continue;
    for (const c of list)
      c.report.items.push({
        outcome: 'not_converted',
        path: 'sourceConnector/properties/listenerConnectorProperties',
        what: `address ${address}`,
        note: `${list
          .filter((o) => o !== c)
          .map((o) => o.id)
          .join(
            ', ',
          )} listen on the same address (so they could not run together in Mirth either): give each its own port`,
      });
  }
}

/** Sinew channel id → the channels whose enabled Channel Writers hand messages to it. */
function channelFeeders(
  found: readonly FoundChannel[],
  sinewIds: readonly string[],
  ids: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const feeders = new Map<string, string[]>();
  found.forEach((c, i) => {
    const from = sinewIds[i];
    if (!from) return;
    for (const dest of children(child(c.node, 'destinationConnectors'), 'connector')) {
      if (flag(dest, 'enabled') === false) continue;
      if ((text(dest, 'transportName') ?? '').trim() !== 'Channel Writer') continue;
      const target = ids.get((text(child(dest, 'properties'), 'channelId') ?? '').trim());
      if (!target) continue;
      const list = feeders.get(target) ?? [];
      if (!list.includes(from)) list.push(from);
      feeders.set(target, list);
    }
  });
  return feeders;
}

/**
 * Converts Mirth Connect / Open Integration Engine exports: each file a `<channel>` export, a
 * `<serverConfiguration>` backup or a code template library. Throws MirthImportError (naming the
 * file) for a file that is not one; never returns a partial result for it.
 */
export function importMirth(
  files: readonly MirthFile[],
  options: { taken?: Iterable<string> } = {},
): ImportResult {
  const found: FoundChannel[] = [];
  const other: OtherReport[] = [];
  for (const f of files) {
    const r = readFile(f);
    found.push(...r.channels);
    other.push(...r.other);
  }
  const taken = new Set<string>(options.taken ?? []);
  const ids = new Map<string, string>();
  const sinewIds = found.map((c) => {
    const id = unique(slug(text(c.node, 'name') ?? 'channel'), taken);
    const mirthId = text(c.node, 'id');
    if (mirthId) ids.set(mirthId, id);
    return id;
  });
  const feeders = channelFeeders(found, sinewIds, ids);
  const channelReaders = new Set(
    sinewIds.filter(
      (_id, i) =>
        (text(child(found[i]?.node, 'sourceConnector'), 'transportName') ?? '').trim() === 'Channel Reader',
    ),
  );
  const channels = found.map((c, i) =>
    convertChannel(c, sinewIds[i] ?? 'channel', ids, feeders, channelReaders),
  );
  sharedAddresses(channels);
  return { channels, report: { channels: channels.map((c) => c.report), other } };
}

export type { Settings };
