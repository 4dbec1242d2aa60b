import {
  filtersFromParams,
  isMessageId,
  paramsFromFilters,
  parseSearch,
  searchText,
  tokenize,
} from './search';

const ID = '0193a4f2-7c1e-7001-8a2b-3c4d5e6f7a8b';

describe('the messages search field', () => {
  it('opens a message when given its id, alone or as id:…', () => {
    expect(parseSearch(`  ${ID} `)).toEqual({ kind: 'message', id: ID });
    expect(parseSearch(ID.toUpperCase())).toEqual({ kind: 'message', id: ID });
    expect(parseSearch(`id:${ID}`)).toEqual({ kind: 'message', id: ID });
    expect(isMessageId('MRN-123')).toBe(false);
  });

  it('sends bare text to the free-text search (q): an MRN, a control id, anything', () => {
    expect(parseSearch('MRN-1')).toEqual({ kind: 'search', filters: { q: 'MRN-1' }, problems: [] });
    expect(parseSearch('CTRL0001')).toEqual({ kind: 'search', filters: { q: 'CTRL0001' }, problems: [] });
    expect(parseSearch('"DOE JANE"')).toEqual({ kind: 'search', filters: { q: 'DOE JANE' }, problems: [] });
  });

  it('reads name:value as a business key, control: as MSH-10', () => {
    expect(parseSearch('mrn:123')).toEqual({ kind: 'search', filters: { key: 'mrn:123' }, problems: [] });
    expect(parseSearch('order:"ORD 7"').kind === 'search' && parseSearch('order:"ORD 7"')).toMatchObject({
      filters: { key: 'order:ORD 7' },
    });
    expect(parseSearch('control:ABC-1')).toMatchObject({ filters: { control_id: 'ABC-1' } });
    expect(parseSearch('MSH10:ABC-1')).toMatchObject({ filters: { control_id: 'ABC-1' } });
  });

  it('takes channel, type, status and time tokens, and says what it cannot read', () => {
    const p = parseSearch('channel:lab-results type:ORU^R01 status:dead-lettered since:2026-12-01 MRN-9');
    expect(p).toMatchObject({
      kind: 'search',
      filters: { channel: 'lab-results', type: 'ORU^R01', status: 'dead_lettered', q: 'MRN-9' },
      problems: [],
    });
    expect(p.kind === 'search' && p.filters.since).toBe(new Date('2026-12-01T00:00:00').toISOString());
    const bad = parseSearch('status:lost since:yesterday channel:no/slash');
    expect(bad.kind === 'search' && bad.problems).toEqual([
      expect.stringContaining('"lost" is not a status'),
      expect.stringContaining('since: "yesterday" is not a date'),
      expect.stringContaining('"no/slash" is not a channel id'),
    ]);
    expect(bad.kind === 'search' && bad.filters).toEqual({});
  });

  it('leaves text with a colon but no usable name as free text (a URL, a time)', () => {
    expect(parseSearch('10:30')).toMatchObject({ filters: { q: '10:30' } });
    expect(parseSearch('mrn:')).toMatchObject({ filters: { q: 'mrn:' } });
    expect(tokenize(' a  "b c"  d:"e f" ')).toEqual(['a', 'b c', 'd:e f']);
  });

  it('writes the field back from filters and round-trips them', () => {
    const f = { key: 'mrn:A 1', control_id: 'C1', q: 'X' };
    expect(searchText(f)).toBe('mrn:"A 1" control:C1 X');
    expect(parseSearch(searchText(f))).toEqual({ kind: 'search', filters: f, problems: [] });
  });

  it('reflects filters in the URL in a fixed order, and reads them back', () => {
    const p = paramsFromFilters({ q: 'MRN-1', channel: 'lab-results', status: '' });
    expect(p.toString()).toBe('q=MRN-1&channel=lab-results');
    expect(filtersFromParams(new URLSearchParams('channel=lab-results&q=MRN-1&page=2&type='))).toEqual({
      channel: 'lab-results',
      q: 'MRN-1',
    });
  });
});
