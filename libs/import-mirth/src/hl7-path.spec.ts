import { mirthHl7Path, stringLiteral } from './hl7-path';

describe('Mirth E4X paths as HL7 paths', () => {
  it.each([
    ["msg['PID']['PID.3']['PID.3.1'].toString()", 'PID-3.1', false],
    ['msg["PID"]["PID.5"]["PID.5.1"]', 'PID-5.1', false],
    ["msg['PID']['PID.3'][1]['PID.3.1'].toString()", 'PID-3[2].1', false],
    ["msg['OBX'][2]['OBX.5']['OBX.5.1'].toString()", 'OBX[3]-5.1', false],
    ["msg['PID']['PID.3']['PID.3.4']['PID.3.4.2'].toString()", 'PID-3.4.2', false],
    ["msg['PID']['PID.8'].toString()", 'PID-8', true],
    ["tmp['MSH']['MSH.6']['MSH.6.1']", 'MSH-6.1', false],
  ])('%s → %s', (expression, path, fieldOnly) => {
    expect(mirthHl7Path(expression)).toEqual({
      path,
      root: expression.startsWith('tmp') ? 'tmp' : 'msg',
      fieldOnly,
    });
  });

  it.each([
    ["msg['PID']"], // a segment is not a value
    ["msg['PID']['PV1.3']"], // field of another segment
    ["msg['PID']['PID.3']['PID.4.1']"], // component of another field
    ["msg['PID']['PID.5']['PID.5.1'].toString().toUpperCase()"],
    ["msg['PID'][i]['PID.3']"], // variable index
    ['msg..PID'],
    ["channelMap.get('mrn')"],
  ])('%s is not a certain path', (expression) => {
    expect(mirthHl7Path(expression)).toBeUndefined();
  });
});

describe('JavaScript string literals', () => {
  it('reads single- and double-quoted strings, with escaped quotes', () => {
    expect(stringLiteral('"ADT"')).toBe('ADT');
    expect(stringLiteral("'A04'")).toBe('A04');
    expect(stringLiteral("'O\\'Brien'")).toBe("O'Brien");
  });
  it('refuses expressions and escapes whose value it would have to guess', () => {
    expect(stringLiteral('"a" + b')).toBeUndefined();
    expect(stringLiteral('code')).toBeUndefined();
    expect(stringLiteral('"line\\n"')).toBeUndefined();
  });
});
