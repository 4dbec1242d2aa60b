import { findJsonSyntaxError } from './json-syntax';

describe('findJsonSyntaxError', () => {
  it.each(['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"], "b": {"c": ""}} ', '0', '"s"'])(
    'accepts %s as JSON.parse does',
    (text) => {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(findJsonSyntaxError(text)).toBeUndefined();
    },
  );

  it.each([
    ['{\n  "a": [Testpatient]\n}', { line: 2, column: 9, expected: 'a value', truncated: false }],
    ['{"a" 1}', { line: 1, column: 6, expected: "':'", truncated: false }],
    ['{"a": 1 "b": 2}', { line: 1, column: 9, expected: "',' or '}'", truncated: false }],
    ["{'a': 1}", { line: 1, column: 2, expected: 'a property name in double quotes', truncated: false }],
    ['[1, 2,]', { line: 1, column: 7, expected: 'a value', truncated: false }],
    ['[01]', { line: 1, column: 3, expected: "',' or ']'", truncated: false }],
    ['{"a": "b\\x"}', { line: 1, column: 10, expected: 'a valid escape', truncated: false }],
    ['{} {}', { line: 1, column: 4, expected: 'the end of the text', truncated: false }],
    ['{"resourceType": "Pat', { line: 1, column: 22, expected: 'a closing quote', truncated: true }],
    ['', { line: 1, column: 1, expected: 'a value', truncated: true }],
  ])('locates the error in %j', (text, error) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(findJsonSyntaxError(text)).toEqual(error);
  });
});
