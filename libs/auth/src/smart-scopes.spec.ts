import {
  formatSmartScope,
  narrowSmartScopes,
  parseSmartScope,
  smartAllows,
  type SmartScope,
} from './smart-scopes';

function scopes(...texts: string[]): SmartScope[] {
  return texts.map((t) => {
    const s = parseSmartScope(t);
    if (!s) throw new Error(`not a scope: ${t}`);
    return s;
  });
}

describe('SMART scopes', () => {
  it('reads v2 scopes and the v1 read/write/* forms as their v2 equivalents', () => {
    expect(formatSmartScope(scopes('system/Patient.rs')[0]!)).toBe('system/Patient.rs');
    expect(formatSmartScope(scopes('system/Observation.read')[0]!)).toBe('system/Observation.rs');
    expect(formatSmartScope(scopes('system/Appointment.write')[0]!)).toBe('system/Appointment.cud');
    expect(formatSmartScope(scopes('system/*.*')[0]!)).toBe('system/*.cruds');
  });

  it('refuses what is not a resource scope, or is out of order', () => {
    for (const bad of [
      'openid',
      'system/patient.rs',
      'system/Patient.sr',
      'system/Patient.',
      'admin',
      'system/Patient.rx',
    ])
      expect(parseSmartScope(bad)).toBeUndefined();
  });

  it('allows an interaction only where a scope names the type (or *) and the interaction', () => {
    const s = scopes('system/Patient.rs', 'system/Appointment.cruds');
    expect(smartAllows(s, 'Patient', 'r')).toBe(true);
    expect(smartAllows(s, 'Patient', 'u')).toBe(false);
    expect(smartAllows(s, 'Observation', 'r')).toBe(false);
    expect(smartAllows(scopes('system/*.rs'), 'Observation', 's')).toBe(true);
  });

  it('narrows what a token asks for to what the app was granted', () => {
    const granted = scopes('system/Patient.rs', 'system/Observation.r');
    const asked = scopes('system/Patient.cruds', 'system/Observation.rs', 'system/Appointment.rs');
    expect(narrowSmartScopes(asked, granted).map(formatSmartScope)).toEqual([
      'system/Patient.rs',
      'system/Observation.r',
    ]);
  });
});
