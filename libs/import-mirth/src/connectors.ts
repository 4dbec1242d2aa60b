import type { Notes } from './report';
import { attr, child, flag, text, type XmlNode } from './xml';

/** A connector's settings as written in the Sinew channel file. */
export type Settings = Record<string, unknown>;

export interface ConnectorContext {
  /** The Sinew channel id, for environment variable names. */
  channelId: string;
  /** Mirth channel id → Sinew channel id, over every channel of the import. */
  channelIds: ReadonlyMap<string, string>;
  /** Sinew channel id → the Sinew ids of the imported channels whose Channel Writers name it. */
  feeders: ReadonlyMap<string, readonly string[]>;
  /** The Sinew ids of the imported channels whose Mirth source is a Channel Reader. */
  channelReaders: ReadonlySet<string>;
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
export function port(value: string): number | string {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value.trim();
}

export function contentType(inbound: string): 'hl7v2' | 'json' | 'text' {
  if (inbound === 'HL7V2') return 'hl7v2';
  if (inbound === 'JSON') return 'json';
  return 'text';
}

export function transmissionIsMllp(props: XmlNode): boolean {
  const mode = child(props, 'transmissionModeProperties');
  if (!mode) return true; // Mirth 3.0 exports without the element use MLLP
  return (attr(mode, 'class') ?? '').includes('mllpmode') || text(mode, 'pluginPointName') === 'MLLP';
}

/** Mirth's open-source TCP and HTTP listeners have no TLS; a TLS plugin's settings are reported. */
export function tlsNote(props: XmlNode, notes: Notes): void {
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

/** `sftp.lab.example:2222/outbound/results` → host, port, directory. */
export function splitRemote(host: string): { host: string; port?: number | string; directory: string } {
  const slash = host.indexOf('/');
  const hostPart = slash < 0 ? host : host.slice(0, slash);
  const directory = slash < 0 ? '/' : host.slice(slash);
  const m = /^(.*):(\d+|\$\{[^}]+\})$/.exec(hostPart);
  return m ? { host: m[1] ?? '', port: port(m[2] ?? ''), directory } : { host: hostPart, directory };
}

export function sftpAuth(
  props: XmlNode,
  settings: Settings,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
): void {
  const scheme = child(props, 'schemeProperties');
  settings.username = (text(props, 'username') ?? '').trim();
  if (flag(scheme, 'keyAuth')) {
    const keyFile = (text(scheme, 'keyFile') ?? '').trim();
    if (keyFile) {
      settings.private_key_file = configValue(keyFile, notes, 'schemeProperties/keyFile', 'private key file');
      notes.approximate(
        'schemeProperties/keyFile',
        'private key file',
        `private_key_file: ${keyFile}: the path Mirth read the key from; copy the key there on the Sinew host, or change the path`,
      );
    } else {
      const env = envName(ctx.channelId, name, 'SFTP_PRIVATE_KEY');
      settings.private_key = `\${${env}}`;
      notes.approximate(
        'schemeProperties/keyFile',
        'private key',
        `private_key: \${${env}}: no key file is named in the export; give the PEM or OpenSSH key text`,
      );
    }
    const passphrase = (text(scheme, 'keyPassphrase') ?? '').trim();
    if (passphrase) {
      const env = envName(ctx.channelId, name, 'SFTP_PASSPHRASE');
      settings.passphrase = `\${${env}}`;
      notes.approximate(
        'schemeProperties/keyPassphrase',
        'key passphrase',
        `passphrase: \${${env}} (not copied from the export)`,
      );
    }
  }
  if (flag(scheme, 'passwordAuth') !== false && !flag(scheme, 'keyAuth')) {
    settings.password = `\${${envName(ctx.channelId, name, 'SFTP_PASSWORD')}}`;
    notes.approximate(
      'password',
      'SFTP password',
      `password: \${${envName(ctx.channelId, name, 'SFTP_PASSWORD')}} (not copied from the export)`,
    );
  }
  const hostKey = envName(ctx.channelId, name, 'SFTP_HOST_KEY_SHA256');
  settings.host_key_sha256 = `\${${hostKey}}`;
  const checking = (text(scheme, 'hostKeyChecking') ?? 'ask').trim();
  notes.approximate(
    'schemeProperties/hostKeyChecking',
    `host key checking "${checking}"`,
    `Sinew always pins the server's host key: host_key_sha256: \${${hostKey}} must be set to its SHA256 fingerprint (ssh-keyscan -p PORT HOST | ssh-keygen -lf -)`,
  );
}

/** `jdbc:postgresql://h:5432/db` → `postgres://h:5432/db`, with the kind of database it names. */
/**
 * Where a File Reader or File Writer works, as the settings of a `file` or `sftp` connector
 * (with the SFTP login); undefined, reported, for a scheme Sinew has no connector for (FTP,
 * SMB, WebDAV, S3).
 */
export function fileLocation(
  props: XmlNode,
  notes: Notes,
  ctx: ConnectorContext,
  name: string,
  what: 'File Reader' | 'File Writer',
): Settings | undefined {
  const scheme = (text(props, 'scheme') ?? 'FILE').trim();
  const host = configValue((text(props, 'host') ?? '').trim(), notes, 'host', 'directory');
  if (scheme === 'FILE') {
    notes.exact('host', 'directory', `directory: ${host}`);
    return { type: 'file', directory: host };
  }
  if (scheme !== 'SFTP') {
    notes.notConverted(
      'scheme',
      `${what} over ${scheme}`,
      `only local folders and SFTP have a Sinew ${what === 'File Reader' ? 'source' : 'destination'}`,
    );
    return undefined;
  }
  const remote = splitRemote(host);
  const out: Settings = {
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
  return out;
}

export function jdbcUrl(url: string): { driver?: string; url: string } {
  const m = /^jdbc:(postgresql|mysql|mariadb|sqlite):(.*)$/.exec(url.trim());
  if (!m) return { url: url.trim() };
  const kind = m[1] ?? '';
  const rest = m[2] ?? '';
  if (kind === 'sqlite') return { driver: 'sqlite', url: `sqlite:${rest}` };
  return {
    driver: kind === 'postgresql' ? 'postgres' : 'mysql',
    url: `${kind === 'postgresql' ? 'postgres' : 'mysql'}:${rest}`,
  };
}

export function databaseConnection(
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
  const user = (text(props, 'username') ?? '').trim();
  if (driver === 'sqlite' || !user || /^[a-z]+:\/\/[^/]*@/i.test(url)) {
    settings.url = url;
    notes.exact('url', 'database URL', `url: ${url}`);
    return true;
  }
  // The user and password go into the URL: the database connectors take no other login settings.
  const env = envName(ctx.channelId, name, 'DB_PASSWORD');
  settings.url = url.replace('://', `://${encodeURIComponent(user)}:\${${env}}@`);
  notes.exact('url', 'database URL', `url: ${url} (user ${user} in the URL)`);
  notes.approximate(
    'password',
    'database password',
    `the password is \${${env}} in url (not copied from the export): set it URL-encoded, or use password_file instead`,
  );
  return true;
}
