import { isHl7DateTime, parseHl7DateTime } from './datetime';

describe('parseHl7DateTime', () => {
  it.each([
    '2024',
    '202402',
    '20240229',
    '2024022913',
    '202402291305',
    '20240229130559',
    '20240229130559.1',
    '20240229130559.1234',
  ])('accepts %s', (text) => expect(isHl7DateTime(text)).toBe(true));

  it.each([
    ['20240230', 'February 30'],
    ['20230229', 'February 29 of a common year'],
    ['19000229', '1900 is not a leap year'],
    ['20240431', 'April 31'],
    ['20241301', 'month 13'],
    ['20240001', 'month 0'],
    ['20240100', 'day 0'],
    ['2024010124', 'hour 24'],
    ['202401012360', 'minute 60'],
    ['20240101235960', 'second 60'],
    ['20240101235959.12345', 'five fraction digits'],
    ['20240101.5', 'a fraction without seconds'],
    ['0000', 'year 0'],
    ['24', 'a two-digit year'],
    ['2024-01-01', 'ISO dashes'],
    ['2024011', 'an odd digit count'],
    ['20240101+01', 'a short offset'],
    ['20240101+1500', 'an offset beyond +1400'],
    ['20240101-1300', 'an offset beyond -1200'],
    ['20240101+0160', 'offset minutes 60'],
    ['', 'empty text'],
    [' 20240101', 'a leading space'],
  ])('refuses %s (%s)', (text) => expect(parseHl7DateTime(text)).toBeUndefined());

  it('accepts 2000-02-29 (divisible by 400) and offsets on any precision', () => {
    expect(isHl7DateTime('20000229')).toBe(true);
    expect(isHl7DateTime('2024+0100')).toBe(true);
    expect(isHl7DateTime('202402291305-0500')).toBe(true);
    expect(isHl7DateTime('20240229130559.12+1400')).toBe(true);
    expect(isHl7DateTime('20240229130559-1200')).toBe(true);
  });

  it('takes the value apart and reads offsets into UTC', () => {
    expect(parseHl7DateTime('20240229130559.25+0130')).toEqual({
      year: 2024,
      month: 2,
      day: 29,
      hour: 13,
      minute: 5,
      second: 59,
      fraction: '25',
      offsetMinutes: 90,
      precision: 'fraction',
      epochMs: Date.UTC(2024, 1, 29, 11, 35, 59, 250),
    });
    expect(parseHl7DateTime('2024')?.precision).toBe('year');
    expect(parseHl7DateTime('2024')?.epochMs).toBe(Date.UTC(2024, 0, 1));
    expect(parseHl7DateTime('202403')?.epochMs).toBe(Date.UTC(2024, 2, 1));
    expect(parseHl7DateTime('2024030100-0500')?.epochMs).toBe(Date.UTC(2024, 2, 1, 5));
    expect(new Date(parseHl7DateTime('00010101')?.epochMs as number).getUTCFullYear()).toBe(1);
  });
});
