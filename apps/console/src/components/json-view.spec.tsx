import { renderToStaticMarkup } from 'react-dom/server';
import { JsonView, parseJson } from './json-view';

const BUNDLE = JSON.stringify({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [{ resource: { resourceType: 'Patient', active: true, name: [{ family: 'DOE' }] } }],
  total: 1,
  link: [],
  meta: null,
});

describe('the JSON view', () => {
  it('pretty-prints JSON with every object and array foldable', () => {
    const html = renderToStaticMarkup(<JsonView text={BUNDLE} label="Transformed" />);
    const text = html.replace(/<[^>]+>/g, '\n').replace(/&quot;/g, '"');
    expect(text).toContain('"resourceType"');
    expect(text).toContain('"Bundle"');
    expect(text).toContain('"family"');
    expect(html.match(/<details/g)?.length).toBe(6); // the bundle, entry, its item, resource, name, its item
    expect(html).toContain('(3 keys Patient)');
    expect(html).toContain('(1 item)');
    expect(html).toContain('>Expand all<span class="json-sr"> of Transformed</span></button>');
    expect(html).toContain('>Collapse all<');
    // Scalars keep their JSON form.
    expect(text).toMatch(/"active"\s*:\s*\n*true/);
    expect(text).toMatch(/"meta"\s*:\s*\n*null/);
    expect(text).toMatch(/"link"\s*:\s*\n*\[\n*\]/);
  });

  it('folds levels deeper than asked', () => {
    const html = renderToStaticMarkup(<JsonView text={BUNDLE} label="x" openDepth={1} />);
    expect(html.match(/<details class="json-node" open="">/g)).toHaveLength(1);
  });

  it('shows text that is not JSON as it is', () => {
    expect(parseJson('MSH|^~\\&|')).toBeUndefined();
    expect(parseJson('{"a":')).toBeUndefined();
    expect(renderToStaticMarkup(<JsonView text='{"ok":true}' label="Response" />)).not.toContain(
      'Expand all',
    );
    const html = renderToStaticMarkup(<JsonView text="plain <text>" label="Response" />);
    expect(html).toBe('<pre class="json-view" aria-label="Response" tabindex="0">plain &lt;text&gt;</pre>');
  });
});
