import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import {
  BUILT_IN_TRANSFORMERS,
  MappingError,
  runFunctionExamples,
  TransformerLibrary,
  type MappingWarning,
  type MessageTransformer,
} from '@sinew/mapping';

const MSG =
  'MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260101||ADT^A04|1|P|2.5.1\rPID|1||mrn-00042^^^CLINIC^MR||DOE^JANE\r';

/** A map from ADT^A04 to a Patient whose identifier value goes through `fn`. */
const map = (fn: string, required = false) => `transformer: site-patient
input: hl7v2
output: fhir
messages: ['ADT^A04']
resources:
  - name: patient
    type: Patient
    segment: PID
    rules:
      - { from: PID-3.1, to: 'identifier[0].value', fn: ${fn}${required ? ', required: true' : ''} }
      - { from: PID-5.1, to: 'name[0].family' }
`;

describe('project functions (*.fn.js, *.fn.ts in a transformer folder)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-fn-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  const load = () => TransformerLibrary.load([BUILT_IN_TRANSFORMERS, dir]);
  /** What a refused load says: the file, then the message. */
  const refusal = () => {
    try {
      load();
    } catch (err) {
      return err instanceof MappingError ? `${err.location.file ?? ''}: ${err.message}` : String(err);
    }
    return 'loaded';
  };
  const patient = (t: MessageTransformer) => {
    const warnings: MappingWarning[] = [];
    const out = t.run(Hl7Message.parse(MSG), { warnings }) as {
      entry: Array<{ resource: { identifier?: Array<{ value?: string }>; name?: unknown } }>;
    };
    return { resource: out.entry[0]?.resource, warnings };
  };

  it('loads a JavaScript function with arguments checked by its zod schema, and a map calls it', () => {
    write(
      'mrn.fn.js',
      `module.exports = {
  name: 'site_mrn',
  summary: 'An MRN upper-cased, with the prefix given.',
  params: (z) => z.strictObject({ prefix: z.string().default('') }),
  examples: [{ input: 'mrn-1', args: { prefix: 'X-' }, output: 'X-MRN-1' }],
  run: (value, args) => args.prefix + value.toUpperCase(),
};
`,
    );
    write('site.yaml', map("{ name: site_mrn, args: { prefix: 'C-' } }"));
    const lib = load();
    expect(lib.userFunctions.map((u) => u.fn.name)).toEqual(['site_mrn']);
    expect(patient(lib.get('site-patient')).resource?.identifier?.[0]?.value).toBe('C-MRN-00042');
    // Arguments are checked when the map compiles, with the map's file named.
    write('site.yaml', map('{ name: site_mrn, args: { prefix: 3 } }'));
    expect(() => load()).toThrow(/arguments of site_mrn: prefix/);
  });

  it('compiles a TypeScript function (types stripped) and runs its examples as sinew test does', () => {
    write(
      'digits.fn.ts',
      `interface Args { keep: number }
const digits = {
  name: 'last_digits',
  summary: 'The last digits of a value.',
  params: (z: any) => z.strictObject({ keep: z.number().int().positive() }),
  examples: [
    { input: 'mrn-00042', args: { keep: 3 }, output: '042' },
    { input: 'abc', args: { keep: 2 }, output: 'wrong on purpose' },
  ],
  run(value: string, args: Args): string | undefined {
    const d = value.replace(/\\D/g, '');
    return d === '' ? undefined : d.slice(-args.keep);
  },
};
export default digits;
`,
    );
    const lib = load();
    const [u] = lib.userFunctions;
    const results = runFunctionExamples(u as (typeof lib.userFunctions)[number]);
    expect(results.map((r) => [r.passed, r.line])).toEqual([
      [true, 7],
      [false, 8],
    ]);
    expect(results[1]?.failures).toEqual(['expected "wrong on purpose", got undefined']);
  });

  it('turns an exception in an optional rule into a warning that does not quote the value', () => {
    write(
      'boom.fn.js',
      `module.exports = { name: 'boom', summary: 'Fails.', examples: [{ input: 'x', error: 'map.function' }],
  run: (value) => { throw new TypeError('cannot read ' + value); } };`,
    );
    write('site.yaml', map('boom'));
    const { resource, warnings } = patient(load().get('site-patient'));
    expect(resource?.identifier).toBeUndefined();
    expect(resource?.name).toEqual([{ family: 'DOE' }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.code).toBe('map.function');
    expect(warnings[0]?.message).toMatch(/function boom \(.*boom\.fn\.js\) threw TypeError/);
    expect(JSON.stringify(warnings)).not.toContain('mrn-00042');
    // Required, it fails the message.
    write('site.yaml', map('boom', true));
    expect(() => patient(load().get('site-patient'))).toThrow(MappingError);
  });

  it('holds each call to its time limit', () => {
    write(
      'slow.fn.js',
      `module.exports = { name: 'slow', summary: 'Busy for 30 ms.', timeout_ms: 5,
  examples: [{ input: 'x', error: 'map.function' }],
  run: (v) => { const end = Date.now() + 30; while (Date.now() < end); return v; } };`,
    );
    write('site.yaml', map('slow'));
    const lib = load();
    const { warnings } = patient(lib.get('site-patient'));
    expect(warnings[0]?.message).toMatch(/function slow .* took \d+ ms; its limit is 5 ms/);
    expect(runFunctionExamples(lib.userFunctions[0] as (typeof lib.userFunctions)[number])[0]?.passed).toBe(
      true,
    );
  });

  it('refuses a declaration that is not one, a name taken by a built-in, and a file that does not load', () => {
    write('bad.fn.js', `module.exports = { name: 'Bad Name', summary: 'x', examples: [], run: 1 };`);
    expect(refusal()).toMatch(/bad\.fn\.js: not a function declaration: name: a name of lower-case/);
    rmSync(join(dir, 'bad.fn.js'));
    write(
      'taken.fn.js',
      `module.exports = { name: 'hl7_datetime', summary: 'x', examples: [{ input: 'a', output: 'a' }], run: (v) => v };`,
    );
    expect(refusal()).toMatch(/taken\.fn\.js: function hl7_datetime is already declared/);
    rmSync(join(dir, 'taken.fn.js'));
    mkdirSync(join(dir, 'nested'));
    writeFileSync(join(dir, 'nested', 'broken.fn.js'), 'module.exports = {');
    expect(refusal()).toMatch(/broken\.fn\.js: cannot load the function file: ./);
  });
});
