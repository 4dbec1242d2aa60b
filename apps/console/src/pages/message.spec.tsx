import type React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { MessageLinks } from './message';

// react-router ships ES modules only, which this jest setup does not load: links are rendered
// as the plain anchors they become in the browser.
jest.mock('react-router', () => {
  const { createElement } = jest.requireActual<typeof React>('react');
  return {
    Link: ({ to, children, className }: { to: string; children?: unknown; className?: string }) =>
      createElement('a', { href: to, className }, children as never),
  };
});

describe('parent and child messages on the message page', () => {
  it('links the parent and each child to their own pages, naming channel and destination', () => {
    const html = renderToStaticMarkup(
      <dl>
        <MessageLinks
          parent={{ id: 'p-1', channel_id: 'intake', destination: 'to-archive' }}
          children={[
            { id: 'c-1', channel_id: 'archive', destination: 'to-archive' },
            { id: 'c-2', channel_id: 'ehr', destination: 'to-ehr' },
          ]}
        />
      </dl>,
    );
    expect(html).toContain('<dt>Handed on from</dt>');
    expect(html).toContain('<a href="/messages/p-1" class="mono">p-1</a>');
    expect(html).toContain('on intake by to-archive');
    expect(html).toContain('<dt>Handed on as</dt>');
    expect(html).toContain('<a href="/messages/c-1" class="mono">c-1</a>');
    expect(html).toContain('<a href="/messages/c-2" class="mono">c-2</a>');
    expect(html).toContain('on ehr by to-ehr');
  });

  it('shows nothing for a message no channel handed on', () => {
    expect(renderToStaticMarkup(<MessageLinks children={[]} />)).toBe('');
  });
});
