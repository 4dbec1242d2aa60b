import { readConfig } from './run';

describe('stand-ins settings', () => {
  it('defaults to 127.0.0.1, EHR on 8090 under /fhir, PMS on 8091', () => {
    expect(readConfig([], {})).toEqual({
      host: '127.0.0.1',
      ehrPort: 8090,
      pmsPort: 8091,
      ehrBasePath: '/fhir',
      pmsDbFile: undefined,
      pmsExportDir: undefined,
      pmsAdtMllp: undefined,
      pmsSiuMllp: undefined,
      pmsDftMllp: undefined,
      pmsPatientsFile: undefined,
      pmsHl7Port: undefined,
    });
  });

  it('reads the environment, and a flag wins over its variable', () => {
    const env = {
      EHR_PORT: '9000',
      PMS_PORT: '9001',
      STANDINS_HOST: '0.0.0.0',
      PMS_PATIENTS_FILE: 'p.json',
      PMS_DB_FILE: 'data/pms.db',
      PMS_EXPORT_DIR: 'exports',
      PMS_ADT_MLLP: 'engine.local:2576',
      PMS_SIU_MLLP: '2577',
      PMS_HL7_PORT: '2580',
    };
    expect(
      readConfig(
        ['--pms-port=0', '--ehr-base-path', '/r4', '--pms-siu-mllp', '[::1]:3577', '--pms-dft-mllp=2578'],
        env,
      ),
    ).toEqual({
      host: '0.0.0.0',
      ehrPort: 9000,
      pmsPort: 0,
      ehrBasePath: '/r4',
      pmsDbFile: 'data/pms.db',
      pmsExportDir: 'exports',
      pmsAdtMllp: { host: 'engine.local', port: 2576 },
      pmsSiuMllp: { host: '::1', port: 3577 },
      pmsDftMllp: { host: '127.0.0.1', port: 2578 },
      pmsPatientsFile: 'p.json',
      pmsHl7Port: 2580,
    });
  });

  it('refuses unknown options, missing values and bad ports', () => {
    expect(() => readConfig(['--ehr'], {})).toThrow(
      'unknown option --ehr (known: --host, --ehr-port, --pms-port, --ehr-base-path, --pms-db, --pms-export-dir, --pms-adt-mllp, --pms-siu-mllp, --pms-dft-mllp, --pms-patients, --pms-hl7-port)',
    );
    expect(() => readConfig([], { PMS_ADT_MLLP: 'engine:0' })).toThrow(
      'PMS ADT address must be host:port, got "engine:0"',
    );
    expect(() => readConfig(['--pms-dft-mllp', 'engine'], {})).toThrow(
      'PMS DFT address must be host:port, got "engine"',
    );
    expect(() => readConfig(['--ehr-port'], {})).toThrow('--ehr-port needs a value');
    expect(() => readConfig([], { PMS_PORT: '70000' })).toThrow(
      'PMS port must be a port number 0-65535, got "70000"',
    );
    expect(() => readConfig(['--ehr-port', '-1'], {})).toThrow(
      'EHR port must be a port number 0-65535, got "-1"',
    );
  });
});
