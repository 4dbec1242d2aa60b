import type React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import {
  baseName,
  ChannelConfiguration,
  describeCondition,
  describeStep,
  LintProblems,
  orderingText,
  retryText,
  ShadowResult,
  type ShadowAnswer,
} from './channel';

// react-router ships ES modules only, which this jest setup does not load: links are rendered
// as the plain anchors they become in the browser.
jest.mock('react-router', () => {
  const { createElement } = jest.requireActual<typeof React>('react');
  return {
    Link: ({ to, children }: { to: string; children?: unknown }) =>
      createElement('a', { href: to }, children as never),
  };
});

/** lab-results as `GET /api/v1/channels/{id}` answers its configuration. */
const LAB = {
  id: 'lab-results',
  description: 'Lab results to the EHR as FHIR',
  source: { type: 'mllp', listen: '127.0.0.1:2575' },
  ack: { when: 'received' },
  keys: { mrn: 'PID-3.1', order: 'OBR-3.1' },
  pipeline: [
    { filter: { path: 'MSH-9.1', equals: 'ORU' } },
    {
      validate: {
        policy: 'reject',
        rules: [
          { code: 'lab.mrn', path: 'PID-3.1', required: true, message: 'The patient has no identifier' },
        ],
      },
    },
    { map: { transformer: 'oru-to-fhir' } },
  ],
  destinations: [
    {
      name: 'ehr',
      type: 'http',
      url: 'http://ehr.example/fhir',
      headers: { Authorization: '******' },
      ordering: 'PID-3.1',
      retry: { attempts: 1 },
    },
  ],
};

describe('a channel’s configuration in words', () => {
  it('says what filters and rule conditions keep', () => {
    expect(describeCondition({ path: 'MSH-9.1', equals: 'ORU' })).toBe('MSH-9.1 = "ORU"');
    expect(describeCondition({ path: 'MSH-9.2', in: ['R01', 'R30'] })).toBe('MSH-9.2 is one of "R01", "R30"');
    expect(
      describeCondition({
        all: [{ path: 'PID-3', present: true }, { not: { path: 'MSH-11', matches: '^T' } }],
      }),
    ).toBe('(PID-3 is present and not MSH-11 matches /^T/)');
    expect(
      describeCondition({ any: [{ path: 'PV1-2', present: false }, { fhirpath: 'Patient.active' }] }),
    ).toBe('(PV1-2 is absent or FHIRPath Patient.active)');
  });

  it('spells out retry and ordering, with the engine’s defaults where nothing is set', () => {
    expect(retryText({ attempts: 1 })).toBe('1 attempt, then dead-lettered');
    expect(retryText(undefined)).toBe(
      '10 attempts, then dead-lettered; first retry after 1 s, each ×2, at most 5 min',
    );
    expect(retryText({ attempts: 4, initial_delay_ms: 500, multiplier: 3, max_delay_ms: 90_000 })).toBe(
      '4 attempts, then dead-lettered; first retry after 500 ms, each ×3, at most 1.5 min',
    );
    expect(orderingText(undefined)).toBe('none (in parallel)');
    expect(orderingText('channel')).toBe('the whole channel in order (FIFO)');
    expect(orderingText('PID-3.1')).toBe('in order per PID-3.1');
  });

  it('describes each pipeline step', () => {
    expect(describeStep(LAB.pipeline[0])).toEqual({
      kind: 'Filter',
      text: 'keeps messages where MSH-9.1 = "ORU"',
      details: [],
    });
    expect(describeStep(LAB.pipeline[1])).toEqual({
      kind: 'Validate',
      text: '1 rule; on an error: reject',
      details: ['lab.mrn: PID-3.1, required: true — The patient has no identifier'],
    });
    expect(describeStep({ map: { transformer: 'adt-to-fhir', validate_output: true } })).toEqual({
      kind: 'Map',
      text: 'with transformer adt-to-fhir; output validated; on an error: dead letter',
      details: [],
    });
  });

  it('renders source, keys, steps in order and each destination with its settings (secrets as masked)', () => {
    const html = renderToStaticMarkup(<ChannelConfiguration config={LAB} />);
    expect(html).toContain('<strong>mllp</strong>');
    expect(html).toContain('<dt>listen</dt><dd>127.0.0.1:2575</dd>');
    expect(html).toContain('<dt>mrn</dt><dd>PID-3.1</dd>');
    expect(html.indexOf('<strong>Filter</strong>')).toBeLessThan(html.indexOf('<strong>Validate</strong>'));
    expect(html.indexOf('<strong>Validate</strong>')).toBeLessThan(html.indexOf('<strong>Map</strong>'));
    expect(html).toContain('<dt>Ordering</dt><dd class="words">in order per PID-3.1</dd>');
    expect(html).toContain('<dt>Retry</dt><dd class="words">1 attempt, then dead-lettered</dd>');
    expect(html).toContain('<dt>url</dt><dd>http://ehr.example/fhir</dd>');
    expect(html).toContain('<dt>headers</dt><dd>{&quot;Authorization&quot;:&quot;******&quot;}</dd>');
    expect(renderToStaticMarkup(<ChannelConfiguration config={null} />)).toContain('not available');
  });
});

describe('lint findings and shadow runs', () => {
  it('lists each finding as file:line:col with its severity and code', () => {
    const html = renderToStaticMarkup(
      <LintProblems
        file="lab.yaml"
        answer={{
          errors: 1,
          warnings: 0,
          files: 1,
          problems: [
            {
              file: 'lab.yaml',
              line: 12,
              column: 5,
              severity: 'error',
              code: 'transformer.unknown',
              path: 'pipeline.2.map.transformer',
              message: 'no transformer oru-to-fhi',
            },
          ],
        }}
      />,
    );
    expect(html).toContain('1 error, 0 warnings');
    expect(html).toContain('<code>lab.yaml:12:5</code>');
    expect(html).toContain('<span class="badge bad">error</span>');
    expect(html).toContain('no transformer oru-to-fhi');
    expect(
      renderToStaticMarkup(
        <LintProblems file="lab.yaml" answer={{ errors: 0, warnings: 0, files: 1, problems: [] }} />,
      ),
    ).toContain('No problems found in lab.yaml.');
    expect(baseName('/srv/sinew/channels/lab.yaml')).toBe('lab.yaml');
  });

  it('shows the totals and each changed field before and after', () => {
    const answer: ShadowAnswer = {
      channel: 'lab-results',
      candidate: 'lab-results',
      totals: {
        messages: 3,
        unchanged: 2,
        changed: 1,
        filtered: 0,
        rejected: 0,
        errored: 0,
        skipped: 0,
        destinations_added: 0,
        destinations_removed: 0,
      },
      changes: [
        {
          id: 'm-1',
          received_at: '2026-12-07T08:00:00.000Z',
          message_type: 'ORU^R01',
          stored: 'processed',
          candidate: 'processed',
          outcome: 'changed',
          destinations: [
            {
              destination: 'ehr',
              change: 'changed',
              fields: [
                { path: '/entry/0/resource/status', before: 'final', after: 'preliminary' },
                { path: '/entry/1/resource/note' },
              ],
              more_fields: 2,
            },
          ],
        },
      ],
      truncated: false,
    };
    const html = renderToStaticMarkup(
      <>
        <ShadowResult answer={answer} />
      </>,
    );
    expect(html).toContain('<dt>Changed</dt><dd>1</dd>');
    expect(html).toContain('<dt>Messages read</dt><dd>3</dd>');
    expect(html).toContain('href="/messages/m-1"');
    expect(html).toContain(
      '<th scope="row"><code>/entry/0/resource/status</code></th><td>final</td><td>preliminary</td>',
    );
    expect(html).toContain('(hidden or empty)');
    expect(html).toContain('and 2 more fields');
  });
});
