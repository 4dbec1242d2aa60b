import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelError, loadChannels, parseChannel, parseDuration } from './channel';
import { messageId, messageIdTime } from './ids';

const minimal = `id: lab
source:
  type: mllp
  listen: 2575
destinations:
  - name: ehr
    type: fhir
    base_url: http://ehr/fhir
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseChannel(text, 'channels/x.yaml', env);
  } catch (err) {
    if (err instanceof ChannelError) return err.message.split('\n');
    throw err;
  }
  return [];
}

describe('channel files', () => {
  it('fills in the defaults and splits connector settings from the common ones', () => {
    const ch = parseChannel(minimal, 'channels/lab.yaml', {});
    expect(ch.spec.ack).toEqual({ when: 'received', mode: 'original', timeout: 10_000 });
    expect(ch.spec.duplicates.window).toBe(86_400_000);
    expect(ch.source).toEqual({ type: 'mllp', config: { listen: 2575 } });
    expect(ch.destinations[0]).toMatchObject({
      name: 'ehr',
      type: 'fhir',
      ordering: 'none',
      concurrency: 4,
      config: { base_url: 'http://ehr/fhir' },
      retry: { attempts: 10, initial_delay: 1_000, multiplier: 2, max_delay: 300_000, jitter: 0.2 },
    });
  });

  it('resolves ${ENV} references, with defaults, and types whole references', () => {
    const text = minimal
      .replace('listen: 2575', 'listen: ${PORT}')
      .replace('http://ehr/fhir', '${EHR:-http://fallback}/fhir');
    const ch = parseChannel(text, 'x.yaml', { PORT: '2600' });
    expect(ch.source.config.listen).toBe(2600);
    expect(ch.destinations[0]?.config.base_url).toBe('http://fallback/fhir');
  });

  it('names an unset variable with its file, line and column', () => {
    const text = minimal.replace('http://ehr/fhir', '${EHR_URL}');
    expect(problems(text)).toEqual([
      'channels/x.yaml:8:15 destinations.0.base_url: environment variable EHR_URL is not set (write ${EHR_URL:-default} for a default)',
    ]);
  });

  it('lists every schema problem with its place', () => {
    const text = `id: bad id
source: { type: mllp }
ack: { when: later }
duplicates: { window: soon }
destinations:
  - { name: a, type: http }
  - { name: a, type: http }
`;
    const found = problems(text);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^channels\/x\.yaml:1:5 id: letters, digits/),
        expect.stringMatching(/^channels\/x\.yaml:3:14 ack\.when: /),
        expect.stringMatching(/^channels\/x\.yaml:4:23 duplicates\.window: not a duration: soon/),
      ]),
    );
    expect(
      problems(
        minimal.replace('name: ehr', 'name: ehr\n    ordering: none') + '  - { name: ehr, type: http }\n',
      ),
    ).toEqual(['channels/x.yaml:10:13 destinations.1.name: destination ehr is named twice']);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('id: [unclosed\n')[0]).toMatch(/^channels\/x\.yaml:\d+:\d+ YAML: /);
  });

  it('loads a folder, skipping test files, and refuses a channel id used twice', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-channels-'));
    writeFileSync(join(dir, 'a.yaml'), minimal);
    writeFileSync(join(dir, 'a.test.yaml'), 'not: a channel');
    expect(loadChannels(dir, {}).map((c) => c.spec.id)).toEqual(['lab']);
    writeFileSync(join(dir, 'b.yaml'), minimal);
    expect(() => loadChannels(dir, {})).toThrow(/b\.yaml:1:5 id: channel id lab is also used by .*a\.yaml/);
  });

  it('reads durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
  });
});

describe('the shipped channels', () => {
  it('load with their defaults', () => {
    const channels = loadChannels(join(__dirname, '../../../channels'), {});
    expect(channels.map((c) => c.spec.id).sort()).toEqual(['lab-results', 'pms-adt', 'pms-siu']);
  });
});

describe('message ids', () => {
  it('sort by time and carry it', () => {
    const t = Date.UTC(2026, 10, 21, 12, 0, 0);
    const a = messageId(t);
    const b = messageId(t);
    const c = messageId(t + 1);
    expect(a < b && b < c).toBe(true);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(messageIdTime(a)).toBe(t);
    expect(messageIdTime(c)).toBe(t + 1);
  });
});
