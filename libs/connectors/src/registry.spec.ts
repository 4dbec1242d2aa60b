import { DESTINATIONS, SOURCES, configJsonSchema } from '@sinew/connectors';
import { errorCode, parseRetryAfter } from './common';

describe('connector registry', () => {
  it('lists the sources and destinations by type, each declared completely', () => {
    expect(Object.keys(SOURCES)).toEqual([
      'mllp',
      'http',
      'file',
      'database',
      'schedule',
      'channel',
      'sftp',
      'fhir',
    ]);
    expect(Object.keys(DESTINATIONS)).toEqual([
      'mllp',
      'http',
      'fhir',
      'file',
      'database',
      'channel',
      'email',
      'sftp',
      'store',
    ]);
    for (const [type, d] of [...Object.entries(SOURCES), ...Object.entries(DESTINATIONS)]) {
      expect(d.type).toBe(type);
      expect(d.description.length).toBeGreaterThan(80);
      expect(d.guarantee).toMatch(/^At least once/);
      expect(typeof d.create).toBe('function');
    }
    expect(Object.values(SOURCES).every((d) => d.kind === 'source')).toBe(true);
    expect(Object.values(DESTINATIONS).every((d) => d.kind === 'destination')).toBe(true);
  });

  it('every config field carries a description (they are the documentation)', () => {
    const undocumented: string[] = [];
    const visit = (node: Record<string, unknown>, path: string) => {
      const properties = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const [key, child] of Object.entries(properties)) {
        const where = `${path}.${key}`;
        if (typeof child.description !== 'string' || child.description === '') undocumented.push(where);
        visit(child, where);
        for (const form of (child.oneOf ?? []) as Array<Record<string, unknown>>) visit(form, where);
      }
    };
    for (const d of [...Object.values(SOURCES), ...Object.values(DESTINATIONS)]) {
      visit(configJsonSchema(d), `${d.kind}:${d.type}`);
    }
    expect(undocumented).toEqual([]);
  });

  it('every config field is named in snake_case, as channel YAML is written', () => {
    const names = new Set<string>();
    const visit = (node: Record<string, unknown>) => {
      const properties = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const [key, child] of Object.entries(properties)) {
        names.add(key);
        visit(child);
        for (const form of (child.oneOf ?? []) as Array<Record<string, unknown>>) visit(form);
      }
    };
    for (const d of [...Object.values(SOURCES), ...Object.values(DESTINATIONS)]) visit(configJsonSchema(d));
    expect(names.size).toBeGreaterThan(30);
    expect([...names].filter((n) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(n))).toEqual([]);
  });

  it('configs refuse unknown fields rather than ignoring them', () => {
    for (const d of [...Object.values(SOURCES), ...Object.values(DESTINATIONS)]) {
      const result = d.configSchema.safeParse({ ...d.example, tiemout_ms: 5 });
      expect(result.error?.issues).toEqual([
        expect.objectContaining({ code: 'unrecognized_keys', keys: ['tiemout_ms'] }),
      ]);
    }
  });

  it('gives editors a JSON Schema per connector', () => {
    const schema = configJsonSchema(SOURCES.mllp as NonNullable<(typeof SOURCES)['mllp']>);
    expect(schema).toMatchObject({
      type: 'object',
      additionalProperties: false,
      properties: { listen: { default: '127.0.0.1:2575' } },
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates; ignores what it cannot read', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const inAMinute = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString()) as number;
    expect(inAMinute).toBeGreaterThan(58_000);
    expect(inAMinute).toBeLessThanOrEqual(60_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('errorCode', () => {
  it('names an error by its code (or its cause code, or its class), never by its message', () => {
    expect(errorCode(Object.assign(new Error('open /patients/Testpatient.hl7'), { code: 'ENOENT' }))).toBe(
      'ENOENT',
    );
    expect(
      errorCode(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
      ),
    ).toBe('ECONNRESET');
    expect(errorCode(new RangeError('Testpatient'))).toBe('RangeError');
    expect(errorCode('Testpatient')).toBe('string');
  });
});
