import { isDefaultScript, translateScript } from './javascript';

describe('JavaScript idioms', () => {
  it('translates channelMap.put, $c and tmp assignments when every statement is one', () => {
    const script = `// values for the destinations
channelMap.put('mrn', msg['PID']['PID.3']['PID.3.1'].toString());
$c("visit", msg['PV1']['PV1.19']['PV1.19.1'].toString())
/* the receiving facility */
tmp['MSH']['MSH.6']['MSH.6.1'] = 'EHR';
tmp['PID']['PID.5']['PID.5.1'] = msg['PID']['PID.5']['PID.5.1'].toString();`;
    expect(translateScript(script)).toEqual([
      { kind: 'variable', name: 'mrn', value: { from: 'PID-3.1', fieldOnly: false } },
      { kind: 'variable', name: 'visit', value: { from: 'PV1-19.1', fieldOnly: false } },
      { kind: 'field', target: 'MSH-6.1', value: { const: 'EHR' } },
      { kind: 'field', target: 'PID-5.1', value: { from: 'PID-5.1', fieldOnly: false } },
    ]);
  });

  it('translates nothing when one statement is something else', () => {
    expect(
      translateScript(`channelMap.put('mrn', msg['PID']['PID.3']['PID.3.1'].toString());
if (msg['PID']['PID.8'].toString() == 'F') channelMap.put('sex', 'female');`),
    ).toBeUndefined();
    expect(translateScript("var mrn = msg['PID']['PID.3']['PID.3.1'].toString();")).toBeUndefined();
    expect(translateScript("channelMap.put('x', getValue(msg));")).toBeUndefined();
    expect(translateScript("tmp['PID']['PID.5'] = 'X';")).toBeUndefined(); // a whole field: not certain
  });

  it('a comment-only script translates to nothing to do', () => {
    expect(translateScript('// nothing here\n/* really */')).toEqual([]);
  });

  it('knows the scripts Mirth writes into a new channel', () => {
    expect(isDefaultScript('// Modify the message variable below to pre process data\nreturn message;')).toBe(
      true,
    );
    expect(isDefaultScript('return;')).toBe(true);
    expect(isDefaultScript('')).toBe(true);
    expect(isDefaultScript("globalMap.put('x', 1);\nreturn;")).toBe(false);
    expect(isDefaultScript("// a comment with 'quotes' and return;\nreturn message;")).toBe(true);
  });
});
