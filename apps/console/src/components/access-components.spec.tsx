import { renderToStaticMarkup } from 'react-dom/server';
import { AccessSecret } from './access-secret';
import { CopyButton } from './copy-button';
import { ChannelRestriction, ScopePicker } from './scope-picker';

/** The text a person reads (tags dropped, entities decoded). */
function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

describe('access components', () => {
  it('lists every scope with what it allows, checked as chosen, and an ingest scope per channel', () => {
    const html = renderToStaticMarkup(
      <ScopePicker
        value={['channels:read', 'ingest:lab']}
        onChange={() => undefined}
        channels={[
          { id: 'lab', source: { type: 'http' } },
          { id: 'adt', source: { type: 'mllp' } },
        ]}
      />,
    );
    const boxes = [...html.matchAll(/<input[^>]*>/g)].map((m) => m[0]);
    expect(boxes).toHaveLength(13);
    expect(boxes.filter((b) => b.includes('checked'))).toHaveLength(2);
    expect(text(html)).toContain('phi:read read message content (raw, transformed, payloads, responses)');
    expect(text(html)).toContain('ingest:lab send messages to the HTTP source of channel lab');
    expect(text(html)).toContain(
      'ingest:adt send messages to the HTTP source of channel adt (its source is mllp, not HTTP)',
    );
    // Every checkbox has its label.
    for (const b of boxes) {
      const id = /id="([^"]+)"/.exec(b)?.[1];
      expect(html).toContain(`for="${id}"`);
    }
  });

  it('offers no channel restriction when there are no channels', () => {
    expect(
      renderToStaticMarkup(<ChannelRestriction value={[]} onChange={() => undefined} channels={[]} />),
    ).toBe('');
    const html = renderToStaticMarkup(
      <ChannelRestriction
        value={['adt']}
        onChange={() => undefined}
        channels={[{ id: 'lab' }, { id: 'adt' }]}
      />,
    );
    expect(text(html)).toContain('None chosen: every channel');
    expect([...html.matchAll(/checked/g)]).toHaveLength(1);
  });

  it('shows a new secret once with a warning, a copy button and the example command', () => {
    const html = renderToStaticMarkup(
      <AccessSecret
        title="API key lab-sender created"
        secretLabel="The key"
        secret="snw_abcd1234_s3cret"
        details={[{ label: 'Prefix', value: 'snw_abcd1234_…' }]}
        example={{
          label: 'Try it:',
          command: 'curl -s -H "Authorization: Bearer snw_abcd1234_s3cret" http://x/api/v1/channels',
        }}
        onDone={() => undefined}
      />,
    );
    const t = text(html);
    expect(t).toContain('Copy it now: it is shown only once.');
    expect(t).toContain('The key snw_abcd1234_s3cret Copy the key');
    expect(t).toContain('curl -s -H "Authorization: Bearer snw_abcd1234_s3cret" http://x/api/v1/channels');
    expect(t).toContain('I have copied it');
    expect(renderToStaticMarkup(<CopyButton text="x" label="Copy the key" />)).toContain('role="status"');
  });
});
